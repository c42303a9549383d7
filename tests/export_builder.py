"""Build small LinkedIn data-export ZIPs in memory, for the export reader's tests.

All people here are invented (``*.example`` style). ``story_export()`` is a Complete export dated
2024-03-15 whose every count is known by construction (see ``STORY_EXPECTED``); tests derive the
quirk, damage and attack cases from it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from datetime import date

STORY_NAME = "Complete_LinkedInDataExport_03-15-2024.zip"
STORY_DATE = date(2024, 3, 15)  # window: 2023-12-17 .. 2024-03-15
STORY_STAMP = (2024, 3, 15, 8, 30, 0)  # LinkedIn stamps every entry with the export time
DOS_EPOCH = (1980, 1, 1, 0, 0, 0)  # what many tools write when they do not know

NOTES_PREAMBLE = (
    "Notes:\n"
    '"When exporting your connection data, you may notice that some of the email addresses are '
    "missing. You will only see email addresses for connections who have allowed their "
    "connections to see or download their email address using this setting "
    "https://www.linkedin.com/psettings/privacy/email. You can learn more here "
    'https://www.linkedin.com/help/linkedin/answer/261"\n'
    "\n"
)

HEADLINE = "Helping teams buy better software"
ABOUT = "I sell software.\nSecond line of the About section."

PROFILE = (
    "First Name,Last Name,Maiden Name,Address,Birth Date,Headline,Summary,Industry,Zip Code,"
    "Geo Location,Twitter Handles,Websites,Instant Messengers\n"
    f'Alex,Example,,,Dec 4,{HEADLINE},"{ABOUT}",Computer Software,,'
    '"Amsterdam, North Holland, Netherlands",,[PERSONAL:https://alex.example],\n'
)
POSITIONS = (
    "Company Name,Title,Description,Location,Started On,Finished On\n"
    "Acme Inc.,Senior Account Executive,Sells things.,,Jan 2022,\n"
    "Beta BV,Sales Representative,,,2019,Dec 2021\n"
)
SKILLS = "Name\nNegotiation\nSaaS\nCRM\n"
EDUCATION = (
    "School Name,Start Date,End Date,Notes,Degree Name,Activities\n"
    "Example University,2012,2016,,BSc,\n"
)
LANGUAGES = "Name,Proficiency\nDutch,Native or bilingual proficiency\nEnglish,\n"
CONNECTIONS = NOTES_PREAMBLE + (
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Bo,Buyer,https://www.linkedin.com/in/bo-buyer,,Contoso,VP Procurement,10 Mar 2024\n"
    "Cy,Colleague,https://www.linkedin.com/in/cy-colleague,,ACME,Sales Engineer,05 Jan 2024\n"
    "Di,Director,https://www.linkedin.com/in/di-director,,Fabrikam GmbH,Director of IT,"
    "01 Jun 2023\n"
    'Ed,Engineer,https://www.linkedin.com/in/ed-engineer,,"Acme, Inc.",Software Engineer,'
    "02 Feb 2022\n"
    "Fi,Founder,https://www.linkedin.com/in/fi-founder,fi@founder.example,Startup,"
    "Co-Founder & CEO,20 Feb 2024\n"
    ",,,,,,15 Jan 2024\n"
)
_ME = "https://www.linkedin.com/in/alex-example"
INVITATIONS = (
    "From,To,Sent At,Message,Direction,inviterProfileUrl,inviteeProfileUrl\n"
    f'Alex Example,Bo Buyer,"3/1/24, 9:15 AM",,OUTGOING,{_ME},'
    "https://www.linkedin.com/in/bo-buyer\n"
    f'Alex Example,Fi Founder,"2/18/24, 4:02 PM",,OUTGOING,{_ME},'
    "https://www.linkedin.com/in/fi-founder\n"
    f'Alex Example,Gus Ghosted,"2/20/24, 11:00 AM",Hi Gus,OUTGOING,{_ME},'
    "https://www.linkedin.com/in/gus-ghosted\n"
    f'Alex Example,Old Contact,"10/1/23, 8:00 AM",,OUTGOING,{_ME},'
    "https://www.linkedin.com/in/old-contact\n"
    'Hana Hopeful,Alex Example,"3/10/24, 7:30 PM",,INCOMING,'
    f"https://www.linkedin.com/in/hana-hopeful,{_ME}\n"
)
MESSAGES = (
    "CONVERSATION ID,CONVERSATION TITLE,FROM,SENDER PROFILE URL,TO,RECIPIENT PROFILE URLS,DATE,"
    "SUBJECT,CONTENT,FOLDER\n"
    f"c-1,,Bo Buyer,https://www.linkedin.com/in/bo-buyer,Alex Example,{_ME},"
    '2024-03-02 10:00:00 UTC,,"Hi Alex, quick question",INBOX\n'
    f"c-1,,Alex Example,{_ME},Bo Buyer,https://www.linkedin.com/in/bo-buyer,"
    '2024-03-02 11:30:00 UTC,,"Sure, Bo.\nCall tomorrow?",INBOX\n'
    f"c-2,,Cy Colleague,https://www.linkedin.com/in/cy-colleague,Alex Example,{_ME},"
    "2024-03-05 09:00:00 UTC,,Lunch?,INBOX\n"
    f"c-3,,Alex Example,{_ME},Di Director,https://www.linkedin.com/in/di-director,"
    "2024-02-01 08:00:00 UTC,,Hello Di,INBOX\n"
    f"c-4,,Sponsored,,Alex Example,{_ME},2024-03-03 08:00:00 UTC,,Buy now,SPAM\n"
    f"c-5,,Ed Engineer,https://www.linkedin.com/in/ed-engineer,Alex Example,{_ME},"
    "2023-11-01 08:00:00 UTC,,Old message,INBOX\n"
    f"c-5,,Alex Example,{_ME},Ed Engineer,https://www.linkedin.com/in/ed-engineer,"
    "2024-01-10 08:00:00 UTC,,Late reply,INBOX\n"
)
_SHARE = "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%3A"
SHARES = (
    "Date,ShareLink,ShareCommentary,SharedURL,MediaURL,Visibility\n"
    # the double-wrapped multi-line commentary of real exports (S10)
    f'2024-03-01 09:00:00,{_SHARE}1,"Big news""\n""""\n""We shipped it",,,MEMBER_NETWORK\n'
    f"2024-02-15 12:00:00,{_SHARE}2,Worth reading,"
    "https://www.linkedin.com/feed/update/urn:li:activity:999,,MEMBER_NETWORK\n"
    f"2024-02-10 12:00:00,{_SHARE}3,,https://www.linkedin.com/feed/update/urn:li:activity:998,,"
    "MEMBER_NETWORK\n"
    f"2024-01-05 08:00:00,{_SHARE}4,Photo post,,https://media.example/x.jpg,MEMBER_NETWORK\n"
    # an unbalanced quote: a plain CSV parse would swallow the next post into this one
    f'2024-02-20 10:00:00,{_SHARE}6,"Oops an open quote,,,MEMBER_NETWORK\n'
    f"2024-02-21 10:00:00,{_SHARE}7,Next post,,,MEMBER_NETWORK\n"
    f"2023-06-01 08:00:00,{_SHARE}5,Old post,,,MEMBER_NETWORK\n"
)
COMMENTS = (  # CRLF, an unquoted multi-line message (2024) and backslash-escaped quotes (2026)
    "Date,Link,Message\r\n"
    "2024-03-03 10:00:00,https://www.linkedin.com/feed/update/urn:li:activity:1,Great point\r\n"
    "and another line, with a comma\r\n"
    '2024-02-03 10:00:00,https://www.linkedin.com/feed/update/urn:li:activity:2,"Quoted, with '
    'comma"\r\n'
    '2024-01-03 10:00:00,https://www.linkedin.com/feed/update/urn:li:activity:3,"He said '
    '\\"pitch slap\\" here"\r\n'
    "2023-01-03 10:00:00,https://www.linkedin.com/feed/update/urn:li:activity:4,old\r\n"
)
REACTIONS = (
    "Date,Type,Link\r\n"
    "2024-03-04 10:00:00,LIKE,https://www.linkedin.com/feed/update/urn:li:activity:11\r\n"
    "2024-03-04 18:00:00,EMPATHY,https://www.linkedin.com/feed/update/urn:li:activity:12\r\n"
    "2024-01-20 10:00:00,PRAISE,https://www.linkedin.com/feed/update/urn:li:activity:13\r\n"
    "2023-12-01 10:00:00,LIKE,https://www.linkedin.com/feed/update/urn:li:activity:14\r\n"
)
SEARCHES = (  # no quoting at all: a query with a comma makes an extra field
    "Time,Search Query\n"
    "2024/03/10 12:00:00 UTC,sales director amsterdam\n"
    "2024/03/11 12:00:00 UTC,acme, inc\n"
    "2023/12/16 23:59:59 UTC,one day before the window\n"
    "2023/12/17 00:00:01 UTC,first day of the window\n"
)
ENDORSEMENTS = (
    "Endorsement Date,Skill Name,Endorser First Name,Endorser Last Name,Endorser Public Url,"
    "Endorsement Status\n"
    "2024/01/02 10:00:00 UTC,Negotiation,Bo,Buyer,www.linkedin.com/in/bo-buyer,ACCEPTED\n"
    "2023/05/02 10:00:00 UTC,SaaS,Cy,Colleague,www.linkedin.com/in/cy-colleague,ACCEPTED\n"
    "2022/05/02 10:00:00 UTC,CRM,Di,Director,www.linkedin.com/in/di-director,ACCEPTED\n"
    "2021/05/02 10:00:00 UTC,CRM,Ed,Engineer,www.linkedin.com/in/ed-engineer,ACCEPTED\n"
)
RECOMMENDATIONS_RECEIVED = (
    "First Name,Last Name,Company,Job Title,Text,Creation Date,Status\n"
    'Bo,Buyer,Contoso,VP Procurement,"Alex is great, truly.","04/15/23, 09:25 PM",VISIBLE\n'
)
REGISTRATION = (
    "Registered At,Registration Ip,Subscription Types\n"
    '"1/10/19, 2:00 PM",203.0.113.9,Core/Free\n'
)
RECEIPTS_V2 = (
    "First Name,Last Name,Billing Country,Postal Code,Transaction Made At,Payment Method Type,"
    "Invoice Number,Description,Tax Amount,Sub Total,Total Amount,Currency Code\n"
    "Alex,Example,NL,1000 AA,03/01/24 10:14 PM UTC,VISA,INV-1,"
    "LinkedIn Sales Navigator Core (monthly),10.00,79.99,89.99,EUR\n"
)
AD_TARGETING = (
    "Member Age,Company Names,Company Names,Member Groups,Job Titles,Job Titles\n"
    "25-34,Acme; Beta,Gamma,B2B Sales Leaders; SaaS Growth; Dutch Sellers,Seller,AE\n"
)
RICH_MEDIA = (
    "Date/Time,Media Description,Media Link\n"
    '"You uploaded a profile photo on March 2, 2024 at 12:29 PM (GMT)", -,https://media.example/1\n'
    '"You uploaded a profile background photo on January 5, 2023 at 9:00 AM (GMT)",-,'
    "https://media.example/2\n"
)

STORY_FILES: dict[str, str] = {
    "Profile.csv": PROFILE,
    "Positions.csv": POSITIONS,
    "Skills.csv": SKILLS,
    "Education.csv": EDUCATION,
    "Languages.csv": LANGUAGES,
    "Connections.csv": CONNECTIONS,
    "Invitations.csv": INVITATIONS,
    "messages.csv": MESSAGES,
    "Shares.csv": SHARES,
    "Comments.csv": COMMENTS,
    "Reactions.csv": REACTIONS,
    "SearchQueries.csv": SEARCHES,
    "Endorsement_Received_Info.csv": ENDORSEMENTS,
    "Recommendations_Received.csv": RECOMMENDATIONS_RECEIVED,
    "Registration.csv": REGISTRATION,
    "Receipts_v2.csv": RECEIPTS_V2,
    "Ad_Targeting.csv": AD_TARGETING,
    "Rich_Media.csv": RICH_MEDIA,
}

# Every value follows from the files above by the definitions in linkedin_export/features.py.
STORY_EXPECTED: dict[str, object] = {
    "industry": "technology",  # "Computer Software"
    "role_family": "sales",  # current title "Senior Account Executive"
    "seniority": "senior",
    "region": "emea",  # Netherlands
    "account_age_months": 62,  # 2019-01-10 .. 2024-03-15
    "subscription": "sales_navigator",  # monthly receipt on 2024-03-01
    "has_photo": True,
    "has_banner": True,
    "headline_chars": len(HEADLINE),
    "about_chars": len(ABOUT),
    "positions_count": 2,
    "positions_with_description": 1,
    "education_count": 1,
    "skills_count": 3,
    "endorsements_received": 4,
    "recommendations_received": 1,
    "recommendations_given": 0,  # no file in a Complete archive
    "certifications_count": 0,  # no file (LinkedIn omits empty categories)
    "languages_count": 2,
    "articles_90d": 0,
    "days_active_90d": 18,
    "searches_90d": 3,
    "posts_90d": 4,  # 03-01, 01-05, 02-20, 02-21 (not the reshare, not the bare repost)
    "reshares_90d": 1,
    "comments_given_90d": 3,
    "reactions_given_90d": 3,
    "groups_count": 3,
    "messages_sent_90d": 3,
    "connections_count": 5,  # the ghost row is not a connection
    "vp_plus_connections": 3,  # VP, Director, Co-Founder & CEO
    "coworker_connections": 2,  # "ACME" and "Acme, Inc." = current employer "Acme Inc."
    "invitations_sent_90d": 3,
    "invitations_accepted_90d": 2,
    "messages_received_90d": 2,  # not the sponsored one (no sender), not the old one
    "messages_replied_90d": 1,  # c-1 answered; c-2 not; c-5's inbound is before the window
}
STORY_ACTIVE_DAYS = {  # shares, comments, reactions, searches, sent messages, sent invitations
    date(2024, 3, 1), date(2024, 2, 15), date(2024, 2, 10), date(2024, 1, 5), date(2024, 2, 20),
    date(2024, 2, 21), date(2024, 3, 3), date(2024, 2, 3), date(2024, 1, 3), date(2024, 3, 4),
    date(2024, 1, 20), date(2024, 3, 10), date(2024, 3, 11), date(2023, 12, 17),
    date(2024, 3, 2), date(2024, 2, 1), date(2024, 1, 10), date(2024, 2, 18),
}


def make_zip(
    files: Mapping[str, str | bytes],
    *,
    encoding: str = "utf-8",
    folders: tuple[str, ...] = (),
    compression: int = zipfile.ZIP_DEFLATED,
    stamp: tuple[int, int, int, int, int, int] = STORY_STAMP,
) -> bytes:
    """A ZIP holding ``files`` (name -> text or bytes), built in memory, every entry stamped
    ``stamp`` as LinkedIn does."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for folder in folders:
            archive.writestr(zipfile.ZipInfo(folder.rstrip("/") + "/", stamp), b"")
        for name, content in files.items():
            data = content.encode(encoding) if isinstance(content, str) else content
            info = zipfile.ZipInfo(name, stamp)
            info.compress_type = compression
            archive.writestr(info, data)
    return buffer.getvalue()


def story_export(
    *, drop: tuple[str, ...] = (), replace: Mapping[str, str | bytes] | None = None,
    prefix: str = "", stamp: tuple[int, int, int, int, int, int] = STORY_STAMP,
) -> bytes:
    """The story export, minus ``drop``, with ``replace`` entries (by name), under ``prefix``."""
    files: dict[str, str | bytes] = {k: v for k, v in STORY_FILES.items() if k not in drop}
    files.update(replace or {})
    return make_zip({f"{prefix}{name}": content for name, content in files.items()}, stamp=stamp)


def utf16_tsv(rows: list[list[str]]) -> bytes:
    """A 2018 legacy file: UTF-16LE with BOM, tab-separated, every field double-quoted."""
    text = "".join("\t".join(f'"{cell}"' for cell in row) + "\r\n" for row in rows)
    return b"\xff\xfe" + text.encode("utf-16-le")


def patch_central_directory(data: bytes, *, flag_bits: int | None = None,
                            file_size: int | None = None) -> bytes:
    """Rewrite fields of every central-directory (and local) header: forge encryption flags or
    lie about uncompressed sizes, as an attacker would."""
    out = bytearray(data)
    position = out.find(b"PK\x01\x02")
    while position >= 0:
        if flag_bits is not None:
            out[position + 8:position + 10] = flag_bits.to_bytes(2, "little")
        if file_size is not None:
            out[position + 24:position + 28] = file_size.to_bytes(4, "little")
        position = out.find(b"PK\x01\x02", position + 4)
    position = out.find(b"PK\x03\x04")
    while position >= 0 and file_size is not None:
        out[position + 22:position + 26] = file_size.to_bytes(4, "little")
        position = out.find(b"PK\x03\x04", position + 4)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Quirks of real archives (issue 13), with invented content

# The current endorsement file as some 2025-26 exports have it: a Display Status column, and rows
# whose Endorsement Status is "Redacted" (not shown on the profile). 3 shown, 2 redacted.
ENDORSEMENTS_WITH_REDACTED = (
    "Endorsement Date,Skill Name,Endorser First Name,Endorser Last Name,Endorser Public Url,"
    "Endorsement Status,Display Status\n"
    "2024/01/02 10:00:00 UTC,Negotiation,Bo,Buyer,www.linkedin.com/in/bo-buyer,ACCEPTED,\n"
    "2023/05/02 10:00:00 UTC,SaaS,Cy,Colleague,www.linkedin.com/in/cy-colleague,ACCEPTED,\n"
    "2022/05/02 10:00:00 UTC,CRM,Di,Director,www.linkedin.com/in/di-director,ACCEPTED,\n"
    "2022/06/02 10:00:00 UTC,CRM,Ed,Engineer,www.linkedin.com/in/ed-engineer,Redacted,\n"
    "2022/07/02 10:00:00 UTC,SaaS,Fi,Founder,www.linkedin.com/in/fi-founder,Redacted,\n"
)


def legacy_endorsements() -> bytes:
    """The older ``Endorsement Received Info.csv`` (UTF-16, tab-separated): 6 endorsements."""
    header = ["Endorsement Date", "Skill Name", "Endorser First Name", "Endorser Last Name",
              "Endorser Public Url", "Endorsement Status"]
    rows = [[f"2021/0{m}/02 10:00:00 UTC", "CRM", "Old", f"Endorser{m}",
             f"www.linkedin.com/in/old-{m}", "ACCEPTED"] for m in range(1, 7)]
    return utf16_tsv([header, *rows])


def rich_media(*descriptions: str) -> str:
    """Rich_Media.csv with one upload event per description (e.g. "a group background photo")."""
    lines = ["Date/Time,Media Description,Media Link"]
    lines += [f'"You uploaded {d} on March 2, 2024 at 12:29 PM (GMT)", -,https://media.example/{i}'
              for i, d in enumerate(descriptions)]
    return "\n".join(lines) + "\n"


def xlsx_workbook(rows: list[list[str]]) -> bytes:
    """A minimal Office Open XML workbook (.xlsx), as a spreadsheet program saves it: a ZIP with
    the content types, the workbook and one sheet of inline strings."""
    cells = "".join(
        f'<row r="{r}">' + "".join(
            f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{value}</t></is></c>'
            for c, value in enumerate(row)) + "</row>"
        for r, row in enumerate(rows, start=1))
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="xml" ContentType="application/'
            'xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxml'
            'formats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            f'{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            '<sheets><sheet name="Skills" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}"><sheetData>'
            f"{cells}</sheetData></worksheet>"),
    }
    return make_zip(parts, stamp=STORY_STAMP)


# The first bytes of a legacy Excel 97-2003 (.xls) file: the OLE2 compound-document signature.
XLS_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
