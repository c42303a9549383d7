(function () {
  "use strict";
  var table = document.getElementById("members");
  if (!table || !table.tBodies.length) { return; }
  var hint = document.getElementById("sort-hint");
  var state = document.getElementById("sort-state");
  if (hint) { hint.classList.remove("js-only"); }
  var heads = table.tHead.rows[0].cells;
  function sortBy(col, type, dir) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-value");
      var y = b.cells[col].getAttribute("data-value");
      var r = type === "num" ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return dir === "ascending" ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    if (state) { state.hidden = true; }
    Array.prototype.forEach.call(heads, function (th, i) {
      if (i === col) { th.setAttribute("aria-sort", dir); } else { th.removeAttribute("aria-sort"); }
    });
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    var button = document.createElement("button");
    button.type = "button";
    while (th.firstChild) { button.appendChild(th.firstChild); }
    th.appendChild(button);
    button.addEventListener("click", function () {
      var type = th.getAttribute("data-type");
      var current = th.getAttribute("aria-sort");
      var dir = current ? (current === "ascending" ? "descending" : "ascending")
                        : (type === "num" ? "descending" : "ascending");
      sortBy(col, type, dir);
    });
  });
}());
