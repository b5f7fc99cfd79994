#!/usr/bin/env python3
"""Regenerate countries.rs from Debian's iso-codes (package iso-codes):
    python3 src/form/gen_countries.py > src/form/countries.rs
Codes come from CODES in src/domain/country.rs; names from iso_3166-1.json
(common_name preferred over name) and the fr/es/ar gettext catalogues.
Fallbacks (common_name -> name -> English) and code mismatches go to stderr."""
import gettext, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ISO = "/usr/share/iso-codes/json/iso_3166-1.json"
MO = "/usr/share/locale/%s/LC_MESSAGES/iso_3166-1.mo"
LANGS = ("fr", "es", "ar")
# Catalogue errors: here the common name's translation is wrong, so translate `name`.
# (iso-codes 4.15.0 ar: "Moldova" -> "المالديف", i.e. Maldives.)
BAD_COMMON = {("MD", "ar")}

src = open(os.path.join(HERE, "..", "domain", "country.rs"), encoding="utf-8").read()
m = re.search(r'const CODES: &str = "(.*?)";', src, re.S)
codes = set(m.group(1).replace("\\\n", " ").split())

entries = {e["alpha_2"]: e for e in json.load(open(ISO, encoding="utf-8"))["3166-1"]}
for c in sorted(codes - entries.keys()):
    print("in CODES, not in iso-codes: " + c, file=sys.stderr)
for c in sorted(entries.keys() - codes):
    print("in iso-codes, not in CODES: " + c, file=sys.stderr)


class Missing(gettext.NullTranslations):
    def gettext(self, message):
        return None


cats = {}
for lang in LANGS:
    t = gettext.GNUTranslations(open(MO % lang, "rb"))
    t.add_fallback(Missing())
    cats[lang] = t


def tr(lang, code, e, en):
    for s in (en, e["name"]) if (code, lang) not in BAD_COMMON else (e["name"],):
        r = cats[lang].gettext(s)
        if r:
            if s != en and (code, lang) not in BAD_COMMON:
                print("%s %s: common name untranslated, used name's" % (code, lang), file=sys.stderr)
            return r
    print("%s %s: no translation, English kept" % (code, lang), file=sys.stderr)
    return en


def lit(s):
    return '"' + s.strip().replace("\\", "\\\\").replace('"', '\\"') + '"'


try:
    ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "iso-codes"],
                         capture_output=True, text=True).stdout.strip() or "?"
except OSError:
    ver = "?"
print("""//! Country names for the alert form, from Debian's iso-codes (ISO 3166-1), in the form's
//! four languages. Generated; regenerate with the script in the comment below rather than
//! editing by hand.
//! `python3 src/form/gen_countries.py > src/form/countries.rs` (iso-codes %s;
//! codes from CODES in src/domain/country.rs; English is `common_name`, else `name`).

/// (code, English, French, Spanish, Arabic), sorted by code.
#[rustfmt::skip]
pub const COUNTRIES: &[(&str, &str, &str, &str, &str)] = &[""" % ver)
for code in sorted(codes & entries.keys()):
    e = entries[code]
    en = e.get("common_name", e["name"])
    names = [en] + [tr(lang, code, e, en) for lang in LANGS]
    print("    (%s, %s)," % (lit(code), ", ".join(lit(n) for n in names)))
print("];")
