//! The languages of every page Haven serves (the defender's form and the staff console):
//! which exist, how each is named and written, and how a request picks one. Each door keeps
//! its own words as a struct of `&'static str` per language (`form::i18n::Text`,
//! `console::i18n::Words`), so a missing translation is a compile error, never an English
//! word on an Arabic page.

use actix_web::HttpRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
    Es,
    Ar,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Fr, Lang::Es, Lang::Ar];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::Ar => "ar",
        }
    }

    /// The language's own name, for the language switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
            Lang::Es => "Español",
            Lang::Ar => "العربية",
        }
    }

    pub fn dir(self) -> &'static str {
        if self == Lang::Ar {
            "rtl"
        } else {
            "ltr"
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(code))
    }

    /// `?lang=` (or the form's `lang` field) first, then the browser's Accept-Language, then
    /// English.
    pub fn choose(explicit: Option<&str>, req: &HttpRequest) -> Lang {
        if let Some(l) = explicit.and_then(Lang::parse) {
            return l;
        }
        let header = req.headers().get("accept-language").and_then(|v| v.to_str().ok()).unwrap_or("");
        Lang::from_accept_language(header).unwrap_or(Lang::En)
    }

    /// The supported language the header prefers most (`q` weights honoured, first wins a
    /// tie), by primary subtag: `fr-CA` is French.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for part in header.split(',').take(20) {
            let mut bits = part.trim().split(';');
            let tag = bits.next().unwrap_or("").trim();
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(l) = Lang::parse(primary) {
                if q > 0.0 && best.is_none_or(|(_, bq)| q > bq) {
                    best = Some((l, q));
                }
            }
        }
        best.map(|(l, _)| l)
    }
}
