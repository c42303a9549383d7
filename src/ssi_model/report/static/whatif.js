/* What-if: the page scores the member's profile with the same model as the API.
 *
 * Built by ssi_model.report.whatif: the model bundle (#ssi-whatif-model, JSON) holds the four
 * boosters as compact trees, the interval tables and the industry quantiles; ssiFeatures() below
 * is generated from features.yaml. Every step mirrors the Python path operation for operation:
 * features (features._compute) -> LightGBM's tree walk (Tree::NumericalDecision /
 * CategoricalDecision), summed in tree order -> clip to 0..25 -> total = sum of the pillars in
 * order -> intervals (IntervalCalibration.interval) -> industry rank (PeerStats.top_pct, np.interp)
 * -> numpy's round (half to even on x * 10^d), so window.ssiWhatIf.score(row) returns the served
 * model's prediction record exactly.
 */
(function () {
  "use strict";

  // LightGBM's kZeroThreshold: the float 1e-35f, as a double.
  var K_ZERO = 1.0000000180025095e-35;

  function num(row, key) {
    var v = row[key];
    if (v === null || v === undefined || v === "") { return NaN; }
    if (v === true) { return 1; }
    if (v === false) { return 0; }
    if (typeof v === "number") { return v; }
    var n = Number(v);
    if (typeof v !== "string" || isNaN(n)) {
      throw new TypeError("column " + key + ": not a number: " + String(v));
    }
    return n;
  }

  function cat(row, key, values) {
    var v = row[key];
    if (v === null || v === undefined || v === "" || (typeof v === "number" && isNaN(v))) {
      return NaN;
    }
    var code = values.indexOf(v);
    if (code < 0) { throw new RangeError("column " + key + ": value outside the contract: " + v); }
    return code;
  }

  function ratio(n, d, floor) {
    if (floor === floor) { d = Math.max(d, floor); }  // NaN stays NaN, as np.maximum
    return d === 0 ? NaN : n / d;
  }

  function share(cells) {
    var known = 0, filled = 0;
    for (var i = 0; i < cells.length; i++) {
      var v = cells[i][0];
      if (v === v) { known += 1; }
      if (v >= cells[i][1]) { filled += 1; }
    }
    return known > 0 ? filled / known : NaN;
  }

  /*@FEATURES@*/

  function decodeLeaves(text) {
    var bin = atob(text), n = bin.length / 8, out = new Float64Array(n);
    var view = new DataView(new ArrayBuffer(bin.length));
    for (var i = 0; i < bin.length; i++) { view.setUint8(i, bin.charCodeAt(i)); }
    for (var j = 0; j < n; j++) { out[j] = view.getFloat64(j * 8, true); }
    return out;
  }

  function bitset(cats) {  // LightGBM's cat_threshold: 32 categories a word
    var max = cats.length ? Math.max.apply(null, cats) : 0, words = new Uint32Array((max >> 5) + 1);
    for (var i = 0; i < cats.length; i++) { words[cats[i] >> 5] |= (1 << (cats[i] & 31)) >>> 0; }
    return words;
  }

  function prepare(b) {
    var T = b.trees.length, nodeStart = new Int32Array(T), leafStart = new Int32Array(T);
    var nodes = 0, leaves = 0;
    for (var t = 0; t < T; t++) {
      nodeStart[t] = nodes; leafStart[t] = leaves;
      nodes += b.trees[t] - 1; leaves += b.trees[t];
    }
    return {
      T: T, size: Int32Array.from(b.trees), nodeStart: nodeStart, leafStart: leafStart,
      f: Int32Array.from(b.f), t: Int32Array.from(b.t), d: Uint8Array.from(b.d),
      l: Int32Array.from(b.l), r: Int32Array.from(b.r),
      thr: Float64Array.from(b.thresholds), cats: b.cats.map(bitset), leaf: decodeLeaves(b.leaves)
    };
  }

  function walk(b, x) {
    var sum = 0.0;
    for (var t = 0; t < b.T; t++) {
      var base = b.nodeStart[t], node = b.size[t] > 1 ? 0 : -1;
      while (node >= 0) {
        var k = base + node, fv = x[b.f[k]], d = b.d[k], left;
        if (d & 1) {  // categorical: NaN and negative go right; else the category's bit
          if (fv !== fv) {
            left = false;
          } else {
            var iv = Math.trunc(fv), words = b.cats[b.t[k]], w = iv >> 5;
            left = iv >= 0 && w < words.length && ((words[w] >>> (iv & 31)) & 1) === 1;
          }
        } else {
          var missing = d >> 2;
          if (fv !== fv && missing !== 2) { fv = 0.0; }
          if ((missing === 1 && fv >= -K_ZERO && fv <= K_ZERO) || (missing === 2 && fv !== fv)) {
            left = (d & 2) !== 0;
          } else {
            left = fv <= b.thr[b.t[k]];
          }
        }
        node = left ? b.l[k] : b.r[k];
      }
      sum += b.leaf[b.leafStart[t] + ~node];
    }
    return sum;
  }

  function rint(y) {  // round half to even, as numpy's rint
    var r = Math.round(y);
    if (r - y === 0.5 && r % 2 !== 0) { r -= 1; }
    return r;
  }

  function round(x, digits) {  // numpy's ndarray.round: rint(x * 10^d) / 10^d
    var f = Math.pow(10, digits);
    return rint(x * f) / f;
  }

  function interval(c, v) {  // np.searchsorted(edges, v, side="right"), then clip
    var b = 0;
    while (b < c.edges.length && c.edges[b] <= v) { b++; }
    return [Math.min(Math.max(v + c.lower[b], c.low), c.high),
            Math.min(Math.max(v + c.upper[b], c.low), c.high)];
  }

  function interp(x, xp, fp) {  // np.interp(x, xp, fp, left=0, right=100)
    var n = xp.length;
    if (x !== x) { return x; }
    if (x < xp[0]) { return 0.0; }
    if (x > xp[n - 1]) { return 100.0; }
    var j = 0;
    while (j + 1 < n && xp[j + 1] <= x) { j++; }  // xp[j] <= x < xp[j + 1]
    if (j === n - 1 || xp[j] === x) { return fp[j]; }
    var slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    var y = slope * (x - xp[j]) + fp[j];
    if (y !== y) {
      y = slope * (x - xp[j + 1]) + fp[j + 1];
      if (y !== y && fp[j] === fp[j + 1]) { y = fp[j]; }
    }
    return y;
  }

  var element = document.getElementById("ssi-whatif-model");
  var M = JSON.parse(element.textContent);
  var PILLARS = M.pillars;
  var boosters = PILLARS.map(function (p) { return prepare(M.boosters[p]); });

  function features(row) {
    var x = ssiFeatures(row);
    // LightGBM reads a dense row as (index, value) pairs without the zeros: |v| <= kZero -> 0
    for (var i = 0; i < x.length; i++) { if (Math.abs(x[i]) <= K_ZERO) { x[i] = 0.0; } }
    return x;
  }

  /** Unrounded pillars (clipped to 0..pillar_max) and their total, in PILLARS order. */
  function raw(row) {
    var x = features(row), out = {}, total = 0.0;
    for (var i = 0; i < PILLARS.length; i++) {
      var v = Math.min(Math.max(walk(boosters[i], x), 0.0), M.pillar_max);
      out[PILLARS[i]] = v;
      total = i === 0 ? v : total + v;
    }
    out.total = total;
    return out;
  }

  function topPct(industry, total) {
    var key = (industry === null || industry === undefined || industry === "") ? "*" : industry;
    var q = M.industry_quantiles[key] || M.industry_quantiles["*"];
    var below = interp(total, q, M.top_levels[String(q.length)]);
    return round(Math.min(Math.max(100.0 - below, 0.5), 100.0), 1);
  }

  /** The prediction record of the served model for a contract row. */
  function score(row) {
    var values = raw(row), out = {};
    ["total"].concat(PILLARS).forEach(function (name) {
      var v = values[name], range = interval(M.intervals[name], v);
      out["ssi_" + name] = round(v, 2);
      out["ssi_" + name + "_lo"] = round(range[0], 2);
      out["ssi_" + name + "_hi"] = round(range[1], 2);
    });
    out.industry_top_pct = topPct(row.industry, values.total);
    return out;
  }

  /** Each booster's raw sum (unclipped) for a feature vector, in PILLARS order. */
  function trees(x) {
    return boosters.map(function (b) { return walk(b, x); });
  }

  window.ssiWhatIf = { score: score, raw: raw, features: features, trees: trees };

  // -- the coach's controls ----------------------------------------------------------------------
  var root = document.getElementById("whatif");
  var pageData = document.getElementById("ssi-whatif-page");
  if (!root || !pageData) { return; }
  var P = JSON.parse(pageData.textContent);
  var now = P.row, state = {};
  Object.keys(now).forEach(function (k) { state[k] = now[k]; });
  var fmt1 = new Intl.NumberFormat(P.locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var fmt0 = new Intl.NumberFormat(P.locale, { maximumFractionDigits: 0 });
  var pct = new Intl.NumberFormat(P.locale, { style: "percent", maximumFractionDigits: 0 });
  var base = score(now);
  var controls = {};
  Array.prototype.forEach.call(root.querySelectorAll("[data-col]"), function (el) {
    controls[el.getAttribute("data-col")] = el;
  });

  function signed(d) {
    var r = Math.round(d * 10) / 10;
    if (r === 0) { return "\u00b1" + fmt1.format(0); }
    return (r > 0 ? "+" : "\u2212") + fmt1.format(Math.abs(r));
  }

  function rankText(top) {
    top = Math.min(100, Math.max(1, top));
    if (top <= 50) { return P.rank.top.replace("{pct}", pct.format(Math.round(top) / 100)); }
    return P.rank.bottom.replace("{pct}", pct.format(Math.round(Math.max(1, 100 - top)) / 100));
  }

  function setText(name, text) {
    var el = root.querySelector("[data-out='" + name + "']");
    if (el) { el.textContent = text; }
  }

  function show() {
    var s = score(state);
    ["total"].concat(PILLARS).forEach(function (name) {
      var key = "ssi_" + name, delta = s[key] - base[key];
      setText(name, fmt1.format(s[key]));
      setText(name + "-delta", signed(delta));
      setText(name + "-range", fmt1.format(s[key + "_lo"]) + "\u2013" + fmt1.format(s[key + "_hi"]));
      var d = root.querySelector("[data-out='" + name + "-delta']");
      if (d) { d.className = "delta " + (delta > 0.05 ? "up" : delta < -0.05 ? "down" : "same"); }
    });
    setText("rank", rankText(s.industry_top_pct));
    Object.keys(controls).forEach(function (col) {
      var el = controls[col], v = state[col], input = el.querySelector("input");
      var label = el.querySelector(".wi-value");
      if (input.type === "checkbox") {
        input.checked = v === true;
        input.indeterminate = v === null || v === undefined;
      } else {
        if (v !== null && v !== undefined) { input.value = String(v); }
      }
      if (label) {
        label.textContent = (v === null || v === undefined) ? P.unknown
          : (typeof v === "boolean" ? (v ? "\u2713" : "\u2717") : fmt0.format(v));
      }
      el.classList.toggle("changed", v !== now[col]);
    });
    root.setAttribute("data-total", String(s.ssi_total));
    return s;
  }

  function clampRules(col) {  // cross-column rules of the contract (e.g. accepted <= sent)
    P.rules.forEach(function (rule) {
      var small = rule[1] === "max" ? rule[0] : rule[2], big = rule[1] === "max" ? rule[2] : rule[0];
      var a = state[small], b = state[big];
      if (a === null || a === undefined || b === null || b === undefined || a <= b) { return; }
      if (col === small) { state[small] = b; } else { state[big] = a; }
    });
  }

  function set(col, value) {
    state[col] = value;
    clampRules(col);
  }

  Object.keys(controls).forEach(function (col) {
    var input = controls[col].querySelector("input");
    input.addEventListener("input", function () {
      set(col, input.type === "checkbox" ? input.checked : Number(input.value));
      show();
    });
  });

  function apply(changes) {
    Object.keys(changes).forEach(function (col) { set(col, changes[col]); });
    show();
  }

  Array.prototype.forEach.call(root.querySelectorAll("[data-apply]"), function (button) {
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-apply");
      apply(id === "@plan" ? P.plan : P.levers[id]);
    });
  });
  var reset = root.querySelector("[data-reset]");
  if (reset) {
    reset.addEventListener("click", function () {
      Object.keys(now).forEach(function (k) { state[k] = now[k]; });
      show();
    });
  }
  root.classList.add("ready");
  show();
})();
