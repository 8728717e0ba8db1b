//! Input validation for customer-file records.
//!
//! Every value a client sends for a customer file passes through here before anything is
//! written: free text, e-mail addresses, phone numbers, country and currency codes, company
//! registration numbers, money amounts and quantities. This module owns both the rules and
//! the normal form a value is stored in (trimmed e-mail with a lower-cased domain, E.164
//! phone numbers, registration numbers without spaces, money as a fixed-scale integer), so
//! that two spellings of the same value end up stored the same way.
//!
//! An [`Invalid`] names the input field and says why it was refused, but never repeats the
//! value: customer data is personal data, and these messages reach logs and API clients.

use rust_decimal::Decimal;

/// A rejected input value: which input field, and why (a short English sentence, never
/// echoing the value itself since it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

impl Invalid {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// A point in time someone gives (when a sale was made, an interaction happened): in the
/// years 0001 to 9999, which RFC 3339 can write and both databases keep as given.
pub fn point_in_time(
    field: &'static str,
    at: &chrono::DateTime<chrono::Utc>,
) -> Result<(), Invalid> {
    use chrono::Datelike;
    if (1..=9999).contains(&at.year()) {
        Ok(())
    } else {
        Err(Invalid::new(field, "must be in the years 0001 to 9999"))
    }
}

/// Free text: any characters but the C0 controls that have no business in stored text
/// (NUL truncates strings in C-based tools and some databases, escape sequences can hijack
/// terminals that display logs), and at most `max_chars` characters. Empty is allowed.
pub fn text(field: &'static str, value: &str, max_chars: usize) -> Result<(), Invalid> {
    let mut chars = 0_usize;
    for c in value.chars() {
        if is_forbidden_control(c) {
            return Err(Invalid::new(field, "must not contain control characters"));
        }
        chars += 1;
    }
    // Counted in characters, not bytes, because that is what the person typing sees; a
    // byte limit would give non-Latin scripts a half or a third of the room.
    if chars > max_chars {
        return Err(Invalid::new(
            field,
            format!("must be at most {max_chars} characters long"),
        ));
    }
    Ok(())
}

/// One line of text a person reads back in the audit log (an actor, a client id, a stated
/// purpose): at most `max_chars` characters and no control characters at all — not even tab
/// or line breaks, which would forge extra lines in logs and CSV exports — nor the Unicode
/// line separators and bidirectional overrides that make text display as something else.
pub fn single_line(field: &'static str, value: &str, max_chars: usize) -> Result<(), Invalid> {
    let spoofing = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if value.chars().any(spoofing) {
        return Err(Invalid::new(
            field,
            "must be one line without control characters",
        ));
    }
    text(field, value, max_chars)
}

/// Like [`text`], but blank (empty or whitespace only) is refused.
pub fn required_text(field: &'static str, value: &str, max_chars: usize) -> Result<(), Invalid> {
    text(field, value, max_chars)?;
    if value.trim().is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    Ok(())
}

fn is_forbidden_control(c: char) -> bool {
    // Tab and line breaks are legitimate in multi-line fields such as notes and addresses.
    matches!(c, '\0'..='\u{1f}') && !matches!(c, '\t' | '\n' | '\r')
}

/// An e-mail address, returned trimmed with its domain lower-cased.
///
/// Only the dot-atom form is accepted (no quoted local parts, comments or address
/// literals): those are legal in RFC 5322 but practically unused by real mailboxes, and
/// accepting them mostly lets typos and injection attempts through. Non-ASCII letters are
/// accepted in both parts (RFC 6531). The local part is kept as typed because only the
/// receiving server may decide whether it is case-sensitive.
pub fn email(field: &'static str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    let Some((local, domain)) = value.split_once('@') else {
        return Err(Invalid::new(field, "must contain exactly one '@'"));
    };
    if domain.contains('@') {
        return Err(Invalid::new(field, "must contain exactly one '@'"));
    }
    // Lower-case first: case mapping can change a string's length in bytes, and the limits
    // below must hold for what is stored.
    let domain = domain.to_lowercase();

    // RFC 5321 limits are in octets; for internationalized addresses that means UTF-8 bytes.
    if local.len() > 64 {
        return Err(Invalid::new(
            field,
            "the part before '@' must be at most 64 bytes long",
        ));
    }
    if domain.len() > 255 {
        return Err(Invalid::new(
            field,
            "the domain must be at most 255 bytes long",
        ));
    }
    let address = format!("{local}@{domain}");
    if address.len() > 254 {
        return Err(Invalid::new(field, "must be at most 254 bytes long"));
    }

    check_local_part(field, local)?;
    check_domain(field, &domain)?;
    Ok(address)
}

fn check_local_part(field: &'static str, local: &str) -> Result<(), Invalid> {
    if local.is_empty() {
        return Err(Invalid::new(field, "must have a name before the '@'"));
    }
    if local.split('.').any(str::is_empty) {
        return Err(Invalid::new(
            field,
            "the part before '@' must not start or end with a dot or contain two dots in a row",
        ));
    }
    let allowed = |c: char| {
        c == '.'
            || c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~".contains(c)
            || is_international_letter(c)
    };
    if !local.chars().all(allowed) {
        return Err(Invalid::new(
            field,
            "the part before '@' contains a character that is not allowed",
        ));
    }
    Ok(())
}

fn check_domain(field: &'static str, domain: &str) -> Result<(), Invalid> {
    if !domain.contains('.') {
        return Err(Invalid::new(
            field,
            "the domain must contain at least one dot",
        ));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(Invalid::new(
                field,
                "the domain must not start or end with a dot or contain two dots in a row",
            ));
        }
        // The DNS limit applies to the ASCII (punycode) form of a label, which needs IDNA
        // tables to compute; UTF-8 bytes are exact for ASCII labels and close otherwise.
        if label.len() > 63 {
            return Err(Invalid::new(
                field,
                "each part of the domain must be at most 63 bytes long",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Invalid::new(
                field,
                "parts of the domain must not start or end with a hyphen",
            ));
        }
        let allowed = |c: char| c == '-' || c.is_ascii_alphanumeric() || is_international_letter(c);
        if !label.chars().all(allowed) {
            return Err(Invalid::new(
                field,
                "the domain contains a character that is not allowed",
            ));
        }
    }
    // An all-numeric last label would make the domain indistinguishable from an IPv4
    // address, and no top-level domain is numeric.
    let tld = domain.rsplit('.').next().unwrap_or_default();
    if tld.chars().all(char::is_numeric) {
        return Err(Invalid::new(
            field,
            "the top-level domain must not be numeric",
        ));
    }
    Ok(())
}

/// Whether a non-ASCII character may appear in an internationalized address.
///
/// The standard library has no Unicode general categories, and `char::is_alphanumeric`
/// alone would refuse the combining marks many scripts need (the Devanagari virama, Thai
/// tone marks...). So letters are found by elimination: everything outside ASCII except
/// controls, spaces, and the ranges below, which hold punctuation, symbols, invisible or
/// direction-changing characters and look-alikes of '@' and '.' — the characters that make
/// an address unreadable or let one address pass for another.
fn is_international_letter(c: char) -> bool {
    !c.is_ascii()
        && !c.is_control()
        && !c.is_whitespace()
        && !NON_LETTER_RANGES
            .iter()
            .any(|&(first, last)| (first..=last).contains(&c))
}

#[rustfmt::skip]
const NON_LETTER_RANGES: &[(char, char)] = &[
    ('\u{0080}', '\u{00BF}'),   // C1 controls, no-break space, Latin-1 punctuation and symbols
    ('\u{00D7}', '\u{00D7}'),   // multiplication sign
    ('\u{00F7}', '\u{00F7}'),   // division sign
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner (invisible)
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark (bidi control)
    ('\u{115F}', '\u{1160}'),   // Hangul fillers (invisible, yet classed as letters)
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels (invisible)
    ('\u{180B}', '\u{180F}'),   // Mongolian variation selectors and vowel separator
    ('\u{2000}', '\u{2BFF}'),   // spaces, zero-width and bidi controls, punctuation, symbols, arrows
    ('\u{2E00}', '\u{2E7F}'),   // supplemental punctuation
    ('\u{3000}', '\u{3004}'),   // ideographic space, comma and full stop
    ('\u{3008}', '\u{3020}'),   // CJK brackets and marks
    ('\u{3030}', '\u{3030}'),   // wavy dash
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{E000}', '\u{F8FF}'),   // private use
    ('\u{FDD0}', '\u{FDEF}'),   // noncharacters
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors
    ('\u{FE10}', '\u{FE1F}'),   // vertical punctuation forms
    ('\u{FE30}', '\u{FE6F}'),   // CJK compatibility forms, small forms (incl. small '@')
    ('\u{FEFF}', '\u{FEFF}'),   // zero-width no-break space
    ('\u{FF00}', '\u{FF0F}'),   // fullwidth punctuation (incl. fullwidth '.')
    ('\u{FF1A}', '\u{FF20}'),   // fullwidth punctuation (incl. fullwidth '@')
    ('\u{FF3B}', '\u{FF40}'),   // fullwidth punctuation
    ('\u{FF5B}', '\u{FF65}'),   // fullwidth and halfwidth punctuation (incl. halfwidth full stop)
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{FFF0}', '\u{FFFF}'),   // specials: annotation controls, replacement character
    ('\u{1F000}', '\u{1FBFF}'), // emoji, pictographs and other symbols
    ('\u{E0000}', '\u{E0FFF}'), // tags and variation selectors supplement
    ('\u{F0000}', '\u{10FFFF}'),// supplementary private use
];

/// Longest phone input worth handing to the parser; generous enough for any E.164 number
/// (15 digits) written with a separator between every digit.
const MAX_PHONE_INPUT_LEN: usize = 40;

/// A phone number in international form, returned in E.164 (`+33612345678`).
///
/// The leading '+' is required because we have no default region to interpret a national
/// number against: "06 12 34 56 78" is a French mobile or nothing at all depending on where
/// the customer lives. Only digits and the usual separators may follow, which also keeps
/// letters (vanity numbers), extensions and `tel:` URIs away from the parser.
pub fn phone(field: &'static str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    let Some(rest) = value.strip_prefix('+') else {
        return Err(Invalid::new(
            field,
            "must be in international form, starting with '+' and the country code",
        ));
    };
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return Err(Invalid::new(
            field,
            "may only contain digits, spaces, dashes, dots and parentheses after the '+'",
        ));
    }
    if value.len() > MAX_PHONE_INPUT_LEN {
        return Err(Invalid::new(field, "is too long to be a phone number"));
    }
    let number = phonenumber::parse(None, value)
        .map_err(|_| Invalid::new(field, "is not a phone number"))?;
    if number.extension().is_some() || !phonenumber::is_valid(&number) {
        return Err(Invalid::new(
            field,
            "is not a valid phone number for its country",
        ));
    }
    // Built by hand rather than with the crate's formatter, whose `Display` can fail and
    // would then panic inside `to_string`; the national number's own `Display` keeps the
    // significant leading zeros some countries (Italy) have.
    Ok(format!("+{}{}", number.code().value(), number.national()))
}

/// An ISO 3166-1 alpha-2 country code, in upper case, officially assigned.
pub fn country(field: &'static str, value: &str) -> Result<(), Invalid> {
    if COUNTRY_CODES.binary_search(&value).is_ok() {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            "must be an ISO 3166-1 alpha-2 country code in upper case, such as FR",
        ))
    }
}

/// An active ISO 4217 currency code, in upper case; returns its minor-unit exponent (the
/// number of decimal places amounts in that currency may have).
///
/// Codes without a minor unit (precious metals, IMF and bond-market units of account, the
/// testing and "no currency" codes) are refused: they are not money a customer is
/// invoiced in, and [`amount`] could not check their precision.
pub fn currency(field: &'static str, value: &str) -> Result<u32, Invalid> {
    CURRENCIES
        .binary_search_by(|&(code, _)| code.cmp(value))
        .ok()
        .and_then(|index| CURRENCIES.get(index))
        .map(|&(_, exponent)| exponent)
        .ok_or_else(|| {
            Invalid::new(
                field,
                "must be an active ISO 4217 currency code in upper case, such as EUR",
            )
        })
}

/// Every active currency with its decimal places (what [`currency`] accepts).
pub fn currencies() -> &'static [(&'static str, u32)] {
    &CURRENCIES
}

/// La Poste's SIREN. INSEE numbers its establishments' SIRETs under a different check
/// than everyone else's: the sum of all 14 digits is a multiple of 5.
const LA_POSTE_SIREN: &str = "356000000";

/// A company registration number, returned without spaces.
///
/// French numbers (SIREN or SIRET) carry a check digit, so a mistyped one is caught here.
/// Other countries' formats vary too much to check beyond the character set and length.
pub fn registration_number(
    field: &'static str,
    country: &str,
    value: &str,
) -> Result<String, Invalid> {
    // People copy these numbers from documents that group digits with spaces, in French
    // typography often no-break or narrow no-break ones.
    let normalized: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{A0}' | '\u{202F}'))
        .collect();
    if normalized.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    // The stricter French check must not be skipped because the caller has not upper-cased
    // the country yet.
    if country.eq_ignore_ascii_case("FR") {
        check_siren_or_siret(field, &normalized)?;
    } else {
        check_foreign_registration(field, &normalized)?;
    }
    Ok(normalized)
}

fn check_siren_or_siret(field: &'static str, digits: &str) -> Result<(), Invalid> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new(
            field,
            "must contain only digits: a 9-digit SIREN or a 14-digit SIRET",
        ));
    }
    // All zeros satisfies the Luhn sum but is no company.
    if digits.bytes().all(|b| b == b'0') {
        return Err(Invalid::new(field, "is not an assigned SIREN or SIRET"));
    }
    match digits.len() {
        9 if luhn(digits) => Ok(()),
        9 => Err(Invalid::new(
            field,
            "is not a valid SIREN: the check digit does not match",
        )),
        14 if siret_checks(digits) => Ok(()),
        14 => Err(Invalid::new(
            field,
            "is not a valid SIRET: the check digit does not match",
        )),
        _ => Err(Invalid::new(
            field,
            "must be a 9-digit SIREN or a 14-digit SIRET",
        )),
    }
}

fn siret_checks(siret: &str) -> bool {
    if siret.starts_with(LA_POSTE_SIREN) {
        // La Poste's head office SIRET does follow Luhn; its establishments do not.
        return luhn(siret) || digit_sum_is_multiple_of_5(siret);
    }
    // A SIRET is its company's SIREN plus an establishment number: both carry a check.
    luhn(siret) && siret.get(..9).is_some_and(luhn)
}

fn digit_sum_is_multiple_of_5(digits: &str) -> bool {
    digits
        .bytes()
        .try_fold(0_u32, |sum, b| {
            b.is_ascii_digit().then(|| (sum + u32::from(b - b'0')) % 5)
        })
        .is_some_and(|sum| sum == 0)
}

fn check_foreign_registration(field: &'static str, value: &str) -> Result<(), Invalid> {
    if value.chars().count() > 32 {
        return Err(Invalid::new(field, "must be at most 32 characters long"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/'))
    {
        return Err(Invalid::new(
            field,
            "may only contain letters, digits, '-', '.' and '/'",
        ));
    }
    Ok(())
}

/// Number of decimal places money is stored with (like SQL Server's `MONEY`): enough for
/// every currency's minor unit, as an `i64` that every database and language handles.
const AMOUNT_SCALE: u32 = 4;

/// A money amount in a currency with `exponent` decimal places (see [`currency`]), returned
/// as a count of 1/10 000 units: `12.34` becomes `123400`.
///
/// Refused: negative amounts (a stray minus sign is far likelier than a deliberate negative
/// price), more significant decimal places than the currency has (a fraction of a cent
/// would be silently rounded away on the invoice), and amounts beyond what fits in `i64`.
pub fn amount(field: &'static str, value: Decimal, exponent: u32) -> Result<i64, Invalid> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(Invalid::new(field, "must not be negative"));
    }
    // Trailing zeros carry no precision: "10.50" EUR and "100.0" JPY are fine.
    let value = value.normalize();
    let scale = value.scale();
    if scale > exponent {
        return Err(Invalid::new(
            field,
            match exponent {
                0 => "must be a whole number in this currency".to_owned(),
                1 => "must have at most 1 decimal place in this currency".to_owned(),
                _ => format!("must have at most {exponent} decimal places in this currency"),
            },
        ));
    }
    // Only reachable if a caller passes an exponent no active currency has.
    let Some(missing_places) = AMOUNT_SCALE.checked_sub(scale) else {
        return Err(Invalid::new(
            field,
            format!("must have at most {AMOUNT_SCALE} decimal places"),
        ));
    };
    10_i128
        .checked_pow(missing_places)
        .and_then(|factor| value.mantissa().checked_mul(factor))
        .and_then(|scaled| i64::try_from(scaled).ok())
        .ok_or_else(|| Invalid::new(field, "must be at most 922337203685477.5807"))
}

/// The inverse of [`amount`]: `123400` becomes `12.34`, `1000000` becomes `100`.
pub fn amount_from_scaled(scaled: i64) -> Decimal {
    Decimal::new(scaled, AMOUNT_SCALE).normalize()
}

/// A sum of stored amounts. Any number of amounts the schema accepts (each fits an `i64` of
/// ten-thousandths) sums exactly: `Decimal` holds 96 bits, and the sums come from SQL in
/// halves that cannot overflow (see `customer::StatsLoader`). `None` past 96 bits.
pub fn amount_from_scaled_sum(scaled: i128) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(scaled, AMOUNT_SCALE)
        .ok()
        .map(|sum| sum.normalize())
}

/// A line-item quantity: at least one, and a million at most, which no real order
/// reaches but a stray keystroke easily does.
pub fn quantity(field: &'static str, value: i32) -> Result<(), Invalid> {
    if (1..=1_000_000).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(field, "must be between 1 and 1000000"))
    }
}

/// Whether `digits` is a non-empty string of ASCII digits whose Luhn checksum holds.
pub fn luhn(digits: &str) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0_u32;
    for (position, byte) in digits.bytes().rev().enumerate() {
        if !byte.is_ascii_digit() {
            return false;
        }
        let digit = u32::from(byte - b'0');
        let value = if position % 2 == 1 {
            let doubled = digit * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            digit
        };
        // Reduced as we go so that no input length can overflow the sum.
        sum = (sum + value) % 10;
    }
    sum == 0
}

/// Officially assigned ISO 3166-1 alpha-2 codes, sorted for binary search. Reserved codes
/// ("UK", "EU", "XK"...) are left out: they do not identify a country to a third party.
#[rustfmt::skip]
const COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX",
    "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
    "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK",
    "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
    "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
    "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN",
    "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
    "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ",
    "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI",
    "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
    "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC",
    "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV",
    "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR",
    "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Active ISO 4217 codes that have a minor unit, with its exponent, sorted for binary
/// search. Taken from the ISO list of 2024-06-25, then updated for the Caribbean guilder
/// (XCG) replacing the Netherlands Antillean guilder (ANG) in 2025 and the euro replacing
/// the Bulgarian lev (BGN) in 2026.
#[rustfmt::skip]
const CURRENCIES: [(&str, u32); 165] = [
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2), ("AWG", 2),
    ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BHD", 3), ("BIF", 0), ("BMD", 2), ("BND", 2),
    ("BOB", 2), ("BOV", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2),
    ("CAD", 2), ("CDF", 2), ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2),
    ("COP", 2), ("COU", 2), ("CRC", 2), ("CUC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0),
    ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0), ("GTQ", 2),
    ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2),
    ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2),
    ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0), ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2),
    ("LBP", 2), ("LKR", 2), ("LRD", 2), ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2),
    ("MKD", 2), ("MMK", 2), ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2),
    ("MXN", 2), ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2), ("PKR", 2),
    ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2), ("RWF", 0), ("SAR", 2),
    ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2), ("SHP", 2), ("SLE", 2), ("SOS", 2),
    ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2),
    ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2),
    ("UGX", 0), ("USD", 2), ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2),
    ("VES", 2), ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `input` was refused for `field`, with a reason that says `because`: a
    /// refusal for another reason (or of another field) is a bug the test must not hide.
    #[track_caller]
    fn assert_refused<T: std::fmt::Debug>(
        input: impl std::fmt::Debug,
        result: Result<T, Invalid>,
        field: &str,
        because: &str,
    ) {
        match result {
            Ok(value) => {
                panic!("{input:?} was accepted as {value:?}; expected {field}: …{because}…")
            }
            Err(error) => {
                assert_eq!(error.field, field, "{input:?}: {error}");
                assert!(
                    error.reason.contains(because),
                    "{input:?}: {error}; expected a reason saying {because:?}"
                );
            }
        }
    }

    // ---- Invalid ----

    #[test]
    fn an_invalid_value_displays_as_field_colon_reason() {
        let error = Invalid::new("email", "must not be empty");
        assert_eq!(error.to_string(), "email: must not be empty");
    }

    #[test]
    fn refusals_name_the_field_and_never_echo_the_value() {
        let secret = "Zorglub";
        let refusals = [
            ("notes", text("notes", &format!("{secret}\0"), 100)),
            ("notes", text("notes", &format!("{secret}{secret}"), 3)),
            ("name", required_text("name", "   ", 10)),
            (
                "email",
                email("email", &format!("{secret}@@example.com")).map(drop),
            ),
            (
                "email",
                email("email", &format!("{secret}@example")).map(drop),
            ),
            ("phone", phone("phone", &format!("+33 {secret}")).map(drop)),
            ("phone", phone("phone", "+1 202 123 4567").map(drop)),
            ("country", country("country", secret)),
            ("currency", currency("currency", secret).map(drop)),
            (
                "siren",
                registration_number("siren", "FR", secret).map(drop),
            ),
            (
                "siren",
                registration_number("siren", "DE", &format!("{secret}_")).map(drop),
            ),
        ];
        for (field, refusal) in refusals {
            let error = refusal.expect_err(field);
            assert_eq!(error.field, field, "{error}");
            assert!(!error.reason.is_empty(), "{error}");
            assert!(!error.reason.contains(secret), "{error}");
            assert!(!error.reason.contains("202"), "{error}");
        }
    }

    // ---- text / required_text ----

    #[test]
    fn text_accepts_the_empty_string() {
        assert_eq!(text("notes", "", 10), Ok(()));
    }

    #[test]
    fn text_accepts_tabs_and_line_breaks() {
        assert_eq!(text("notes", "line one\r\n\tline two\n", 100), Ok(()));
    }

    #[test]
    fn text_refuses_a_nul_byte() {
        assert_eq!(
            text("notes", "abc\0def", 100),
            Err(Invalid::new("notes", "must not contain control characters"))
        );
    }

    #[test]
    fn text_refuses_every_other_c0_control_character() {
        for c in ('\0'..='\u{1f}').filter(|c| !matches!(c, '\t' | '\n' | '\r')) {
            let input = format!("a{c}b");
            assert_refused(
                &input,
                text("notes", &input, 100),
                "notes",
                "must not contain control characters",
            );
        }
    }

    #[test]
    fn text_refuses_a_terminal_escape_sequence() {
        let input = "\u{1b}[31mred";
        assert_refused(
            input,
            text("notes", input, 100),
            "notes",
            "must not contain control characters",
        );
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        assert_eq!(text("city", "Zürich", 6), Ok(()));
        assert_eq!(text("city", "東京都", 3), Ok(()));
        assert_eq!(text("city", "éééé", 4), Ok(()));
    }

    #[test]
    fn text_refuses_one_character_over_the_limit() {
        assert_eq!(
            text("city", "ééééé", 4),
            Err(Invalid::new("city", "must be at most 4 characters long"))
        );
    }

    #[test]
    fn text_with_a_zero_limit_accepts_only_the_empty_string() {
        assert_eq!(text("unused", "", 0), Ok(()));
        assert_refused(
            "a",
            text("unused", "a", 0),
            "unused",
            "at most 0 characters",
        );
    }

    #[test]
    fn required_text_accepts_text_with_surrounding_spaces() {
        assert_eq!(required_text("name", " Dupont ", 10), Ok(()));
    }

    #[test]
    fn required_text_refuses_the_empty_string() {
        assert_eq!(
            required_text("name", "", 10),
            Err(Invalid::new("name", "must not be empty"))
        );
    }

    #[test]
    fn required_text_refuses_whitespace_only() {
        for input in [" \t\r\n ", "\u{a0}\u{3000}"] {
            assert_refused(
                input,
                required_text("name", input, 10),
                "name",
                "must not be empty",
            );
        }
    }

    #[test]
    fn required_text_still_refuses_control_characters_and_overlong_text() {
        assert_refused(
            "Du\0pont",
            required_text("name", "Du\0pont", 10),
            "name",
            "must not contain control characters",
        );
        assert_refused(
            "Dupont-Durand",
            required_text("name", "Dupont-Durand", 10),
            "name",
            "at most 10 characters",
        );
    }

    // ---- email ----

    #[test]
    fn email_accepts_a_plain_address_unchanged() {
        assert_eq!(
            email("email", "jean.dupont@example.fr"),
            Ok("jean.dupont@example.fr".to_owned())
        );
    }

    #[test]
    fn email_trims_and_lower_cases_the_domain_but_not_the_local_part() {
        assert_eq!(
            email("email", "  Jean.Dupont@Example.FR \n"),
            Ok("Jean.Dupont@example.fr".to_owned())
        );
    }

    #[test]
    fn email_accepts_every_atext_special_character() {
        assert_eq!(
            email("email", "o'brien+factures@example.ie"),
            Ok("o'brien+factures@example.ie".to_owned())
        );
        assert_eq!(
            email("email", "!#$%&'*+-/=?^_`{|}~@example.com"),
            Ok("!#$%&'*+-/=?^_`{|}~@example.com".to_owned())
        );
    }

    #[test]
    fn email_accepts_subdomains_digits_hyphens_and_punycode() {
        for address in [
            "a@mail.sub-domain.example.co.uk",
            "a@123.example.com",
            "a@xn--bcher-kva.example",
        ] {
            assert_eq!(email("email", address), Ok(address.to_owned()));
        }
    }

    #[test]
    fn email_accepts_internationalized_addresses() {
        for address in [
            "josé.garcía@correo.es",
            "用户@例子.广告",
            "медведь@почта.рф",
            // Virama (U+094D) is a combining mark, not a letter, yet Hindi needs it.
            "हिन्दी@डाटामेल.भारत",
            "ผู้ใช้@ตัวอย่าง.ไทย",
        ] {
            assert_eq!(email("email", address), Ok(address.to_owned()));
        }
    }

    #[test]
    fn email_lower_cases_a_non_ascii_domain() {
        assert_eq!(
            email("email", "Élodie@ÉCOLE.FR"),
            Ok("Élodie@école.fr".to_owned())
        );
    }

    #[test]
    fn email_accepts_a_local_part_of_64_octets() {
        let address = format!("{}@example.com", "a".repeat(64));
        assert_eq!(email("email", &address), Ok(address.clone()));
    }

    #[test]
    fn email_refuses_a_local_part_of_65_octets() {
        let address = format!("{}@example.com", "a".repeat(65));
        assert_eq!(
            email("email", &address),
            Err(Invalid::new(
                "email",
                "the part before '@' must be at most 64 bytes long"
            ))
        );
    }

    #[test]
    fn email_measures_the_local_part_in_octets_not_characters() {
        // 32 'é' are 64 bytes; 33 are 66 bytes although only 33 characters.
        let fits = format!("{}@example.com", "é".repeat(32));
        assert_eq!(email("email", &fits), Ok(fits.clone()));
        let over = format!("{}@example.com", "é".repeat(33));
        assert_refused(&over, email("email", &over), "email", "at most 64 bytes");
    }

    #[test]
    fn email_accepts_254_octets_and_refuses_255() {
        // 64 + 1 + 63 + 1 + 63 + 1 + 57 + 4 = 254
        let domain = |last: usize| {
            format!(
                "{}.{}.{}.com",
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(last)
            )
        };
        let longest = format!("{}@{}", "a".repeat(64), domain(57));
        assert_eq!(longest.len(), 254);
        assert_eq!(email("email", &longest), Ok(longest.clone()));

        let too_long = format!("{}@{}", "a".repeat(64), domain(58));
        assert_eq!(
            email("email", &too_long),
            Err(Invalid::new("email", "must be at most 254 bytes long"))
        );
    }

    #[test]
    fn email_refuses_a_domain_over_255_octets() {
        let domain = format!("{}.com", vec!["x".repeat(63); 4].join("."));
        assert_eq!(
            email("email", &format!("a@{domain}")),
            Err(Invalid::new(
                "email",
                "the domain must be at most 255 bytes long"
            ))
        );
    }

    #[test]
    fn email_accepts_a_63_octet_label_and_refuses_a_64_octet_one() {
        let fits = format!("a@{}.com", "b".repeat(63));
        assert_eq!(email("email", &fits), Ok(fits.clone()));
        let over = format!("a@{}.com", "b".repeat(64));
        assert_refused(
            &over,
            email("email", &over),
            "email",
            "each part of the domain must be at most 63 bytes",
        );
    }

    #[test]
    fn email_refuses_empty_and_blank_input() {
        assert_eq!(
            email("email", ""),
            Err(Invalid::new("email", "must not be empty"))
        );
        assert_refused("   ", email("email", "   "), "email", "must not be empty");
    }

    #[test]
    fn email_refuses_anything_but_exactly_one_at_sign() {
        for address in ["jean.example.com", "a@@example.com", "a@b@example.com"] {
            assert_eq!(
                email("email", address),
                Err(Invalid::new("email", "must contain exactly one '@'")),
                "{address}"
            );
        }
    }

    #[test]
    fn email_refuses_misplaced_dots_in_the_local_part() {
        for address in [
            ".jean@example.com",
            "jean.@example.com",
            "je..an@example.com",
        ] {
            assert_refused(
                address,
                email("email", address),
                "email",
                "the part before '@' must not start or end with a dot or contain two dots in a row",
            );
        }
    }

    #[test]
    fn email_refuses_an_empty_local_part() {
        assert_refused(
            "@example.com",
            email("email", "@example.com"),
            "email",
            "must have a name before the '@'",
        );
    }

    #[test]
    fn email_refuses_quoted_strings_spaces_and_other_specials() {
        for address in [
            "\"jean dupont\"@example.com",
            "jean dupont@example.com",
            "jean(comment)@example.com",
            "jean,dupont@example.com",
            "jean\\dupont@example.com",
            "jean<dupont>@example.com",
            "jean;dupont@example.com",
        ] {
            assert_refused(
                address,
                email("email", address),
                "email",
                "the part before '@' contains a character that is not allowed",
            );
        }
    }

    #[test]
    fn email_refuses_nul_and_control_characters() {
        for (address, reason) in [
            (
                "jean\0@example.com",
                "the part before '@' contains a character that is not allowed",
            ),
            (
                "jean@exam\0ple.com",
                "the domain contains a character that is not allowed",
            ),
            (
                "jean\u{85}@example.com",
                "the part before '@' contains a character that is not allowed",
            ),
        ] {
            assert_refused(address, email("email", address), "email", reason);
        }
    }

    #[test]
    fn email_refuses_a_domain_without_a_dot() {
        assert_eq!(
            email("email", "root@localhost"),
            Err(Invalid::new(
                "email",
                "the domain must contain at least one dot"
            ))
        );
    }

    #[test]
    fn email_refuses_misplaced_dots_in_the_domain() {
        for address in ["a@.example.com", "a@example.com.", "a@example..com"] {
            assert_refused(
                address,
                email("email", address),
                "email",
                "the domain must not start or end with a dot or contain two dots in a row",
            );
        }
    }

    #[test]
    fn email_refuses_labels_starting_or_ending_with_a_hyphen() {
        for address in ["a@-example.com", "a@example-.com", "a@example.-com"] {
            assert_refused(
                address,
                email("email", address),
                "email",
                "parts of the domain must not start or end with a hyphen",
            );
        }
    }

    #[test]
    fn email_refuses_other_characters_in_the_domain() {
        for address in [
            "a@exa_mple.com",
            "a@exa+mple.com",
            "a@[192.168.0.1]",
            "a@exa mple.com",
        ] {
            assert_refused(
                address,
                email("email", address),
                "email",
                "the domain contains a character that is not allowed",
            );
        }
    }

    #[test]
    fn email_refuses_a_numeric_top_level_domain() {
        assert_eq!(
            email("email", "a@192.168.0.1"),
            Err(Invalid::new(
                "email",
                "the top-level domain must not be numeric"
            ))
        );
        assert_refused(
            "a@example.١٢٣",
            email("email", "a@example.١٢٣"),
            "email",
            "the top-level domain must not be numeric",
        );
    }

    #[test]
    fn email_refuses_invisible_and_look_alike_characters() {
        for address in [
            "jean@exam\u{200B}ple.com", // zero-width space
            "jean\u{200D}@example.com", // zero-width joiner
            "jean@example.c\u{202E}om", // right-to-left override
            // A real dot too, so that only the look-alike can be what is refused.
            "jean@exa\u{FF0E}mple.com",  // fullwidth full stop
            "jean@exa\u{3002}mple.com",  // ideographic full stop
            "jean\u{FF20}x@example.com", // fullwidth commercial at
            "jean\u{FEFF}@example.com",  // byte order mark
            "jean\u{3164}@example.com",  // Hangul filler
            "jean@example.com\u{E0041}", // tag character
        ] {
            // Before or after the '@': "… contains a character that is not allowed".
            assert_refused(
                address,
                email("email", address),
                "email",
                "contains a character that is not allowed",
            );
        }
    }

    #[test]
    fn email_refuses_symbols_and_emoji() {
        for (address, reason) in [
            (
                "jean\u{1F600}@example.com",
                "the part before '@' contains a character that is not allowed",
            ),
            (
                "jean@i\u{2764}.example",
                "the domain contains a character that is not allowed",
            ),
            (
                "jean\u{A7}@example.com",
                "the part before '@' contains a character that is not allowed",
            ),
        ] {
            assert_refused(address, email("email", address), "email", reason);
        }
    }

    // ---- phone ----

    #[test]
    fn phone_accepts_a_french_mobile_and_returns_e164() {
        assert_eq!(
            phone("phone", "+33 6 12 34 56 78"),
            Ok("+33612345678".to_owned())
        );
    }

    #[test]
    fn phone_accepts_the_usual_separators() {
        for input in [
            "+33612345678",
            "+33-6-12-34-56-78",
            "+33.6.12.34.56.78",
            "+33 (0)6 12 34 56 78",
            "  +33 6 12 34 56 78  ",
        ] {
            assert_eq!(
                phone("phone", input),
                Ok("+33612345678".to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn phone_accepts_valid_numbers_of_other_countries() {
        assert_eq!(
            phone("phone", "+1 (202) 456-1111"),
            Ok("+12024561111".to_owned())
        );
        assert_eq!(
            phone("phone", "+49 30 123456"),
            Ok("+4930123456".to_owned())
        );
    }

    #[test]
    fn phone_keeps_the_significant_leading_zero_of_italian_numbers() {
        assert_eq!(
            phone("phone", "+39 06 6988 0000"),
            Ok("+390669880000".to_owned())
        );
    }

    #[test]
    fn phone_refuses_a_national_number_without_country_code() {
        assert_eq!(
            phone("phone", "06 12 34 56 78"),
            Err(Invalid::new(
                "phone",
                "must be in international form, starting with '+' and the country code"
            ))
        );
        assert_refused(
            "0033 6 12 34 56 78",
            phone("phone", "0033 6 12 34 56 78"),
            "phone",
            "must be in international form, starting with '+' and the country code",
        );
    }

    #[test]
    fn phone_refuses_numbers_outside_the_numbering_plan() {
        // North American exchange codes cannot start with 1.
        assert_eq!(
            phone("phone", "+1 202 123 4567"),
            Err(Invalid::new(
                "phone",
                "is not a valid phone number for its country"
            ))
        );
        // Too many digits for France.
        assert_refused(
            "+33 6 12 34 56 78 90",
            phone("phone", "+33 6 12 34 56 78 90"),
            "phone",
            "is not a valid phone number for its country",
        );
        // Too few.
        assert_refused(
            "+33 6",
            phone("phone", "+33 6"),
            "phone",
            "is not a phone number",
        );
    }

    #[test]
    fn phone_refuses_unassigned_country_codes() {
        for input in ["+999 123456789", "+0 612 345 678"] {
            assert_refused(
                input,
                phone("phone", input),
                "phone",
                "is not a phone number",
            );
        }
    }

    #[test]
    fn phone_refuses_empty_input_and_a_bare_plus() {
        assert_eq!(
            phone("phone", ""),
            Err(Invalid::new("phone", "must not be empty"))
        );
        for input in ["+", "+ - ()"] {
            assert_refused(
                input,
                phone("phone", input),
                "phone",
                "is not a phone number",
            );
        }
    }

    #[test]
    fn phone_refuses_letters_extensions_uris_and_doubled_plus_signs() {
        let only = "may only contain digits, spaces, dashes, dots and parentheses after the '+'";
        for (input, reason) in [
            ("+1 800 FLOWERS", only),
            ("+33 6 12 34 56 78 ext. 12", only),
            ("+33 6 12 34 56 78;ext=12", only),
            (
                "tel:+33-6-12-34-56-78",
                "must be in international form, starting with '+' and the country code",
            ),
            ("++33 6 12 34 56 78", only),
            ("+33 6 12 34 56 7\0", only),
            ("+\u{FF13}\u{FF13}612345678", only),
        ] {
            assert_refused(input, phone("phone", input), "phone", reason);
        }
    }

    #[test]
    fn phone_refuses_overlong_input_before_parsing_it() {
        let input = format!("+33 6 12 34 56 78{}", " ".repeat(100));
        let input = format!("{input}1");
        assert_refused(
            &input,
            phone("phone", &input),
            "phone",
            "is too long to be a phone number",
        );
    }

    #[test]
    fn phone_never_panics_on_arbitrary_strings_of_allowed_characters() {
        const ALPHABET: &[u8] = b"+0123456789 -.()";
        // A fixed xorshift sequence: reproducible, and no dependency for randomness.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..3_000 {
            let len = next() % 24;
            let input: String = std::iter::once('+')
                .chain((0..len).map(|_| char::from(ALPHABET[(next() % 16) as usize])))
                .collect();
            match phone("phone", &input) {
                // Whatever is accepted is E.164, and stays itself when given again.
                Ok(e164) => {
                    accepted += 1;
                    assert!(e164.starts_with('+'), "{input:?}");
                    assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{input:?}");
                    assert_eq!(phone("phone", &e164), Ok(e164.clone()), "{input:?}");
                }
                // Whatever is refused is refused for a phone number's reasons.
                Err(error) => {
                    refused += 1;
                    assert_eq!(error.field, "phone", "{input:?}: {error}");
                    assert!(
                        [
                            "must not be empty",
                            "may only contain digits",
                            "is too long to be a phone number",
                            "is not a phone number",
                            "is not a valid phone number for its country",
                        ]
                        .iter()
                        .any(|reason| error.reason.starts_with(reason)),
                        "{input:?}: {error}"
                    );
                }
            }
        }
        // Both outcomes were reached, so the checks above ran on each side.
        assert!(
            accepted > 0 && refused > 0,
            "{accepted} accepted, {refused} refused"
        );
    }

    // ---- country ----

    #[test]
    fn country_accepts_assigned_upper_case_codes() {
        for code in ["FR", "GB", "US", "DE", "AQ", "SS", "CW"] {
            assert_eq!(country("country", code), Ok(()), "{code}");
        }
    }

    #[test]
    fn country_refuses_lower_case() {
        for code in ["fr", "Fr"] {
            assert_refused(
                code,
                country("country", code),
                "country",
                "must be an ISO 3166-1 alpha-2 country code in upper case",
            );
        }
    }

    #[test]
    fn country_refuses_unassigned_and_reserved_codes() {
        for code in ["XX", "UK", "EU", "XK", "ZZ", "AA"] {
            assert_refused(
                code,
                country("country", code),
                "country",
                "must be an ISO 3166-1 alpha-2 country code in upper case",
            );
        }
    }

    #[test]
    fn country_refuses_other_shapes() {
        for code in ["", "F", "FRA", " FR", "FR ", "250"] {
            assert_refused(
                code,
                country("country", code),
                "country",
                "must be an ISO 3166-1 alpha-2 country code in upper case",
            );
        }
    }

    #[test]
    fn country_table_is_sorted_unique_and_two_upper_case_letters() {
        assert!(COUNTRY_CODES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            COUNTRY_CODES
                .iter()
                .all(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    // ---- currency ----

    #[test]
    fn currency_returns_the_minor_unit_exponent() {
        for (code, exponent) in [
            ("EUR", 2),
            ("USD", 2),
            ("JPY", 0),
            ("ISK", 0),
            ("KWD", 3),
            ("BHD", 3),
            ("CLF", 4),
            ("UYW", 4),
            ("XOF", 0),
            ("ZWG", 2),
            ("XCG", 2),
        ] {
            assert_eq!(currency("currency", code), Ok(exponent), "{code}");
        }
    }

    #[test]
    fn currency_refuses_lower_case() {
        for code in ["eur", "Eur"] {
            assert_refused(
                code,
                currency("currency", code),
                "currency",
                "must be an active ISO 4217 currency code in upper case",
            );
        }
    }

    #[test]
    fn currency_refuses_codes_without_a_minor_unit() {
        for code in [
            "XAU", "XAG", "XPT", "XPD", "XTS", "XXX", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU",
            "XUA",
        ] {
            assert_refused(
                code,
                currency("currency", code),
                "currency",
                "must be an active ISO 4217 currency code in upper case",
            );
        }
    }

    #[test]
    fn currency_refuses_withdrawn_and_unknown_codes() {
        for code in [
            "FRF", "DEM", "HRK", "ZWL", "SLL", "ANG", "BGN", "ABC", "", "EU", "EURO",
        ] {
            assert_refused(
                code,
                currency("currency", code),
                "currency",
                "must be an active ISO 4217 currency code in upper case",
            );
        }
    }

    #[test]
    fn currency_table_is_sorted_unique_and_storable() {
        assert!(CURRENCIES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(CURRENCIES.iter().all(|(code, exponent)| {
            code.len() == 3
                && code.bytes().all(|b| b.is_ascii_uppercase())
                && *exponent <= AMOUNT_SCALE
        }));
    }

    // ---- registration_number ----

    #[test]
    fn registration_number_accepts_a_valid_siren() {
        assert_eq!(
            registration_number("siren", "FR", "732829320"),
            Ok("732829320".to_owned())
        );
    }

    #[test]
    fn registration_number_strips_spaces_from_a_siren() {
        assert_eq!(
            registration_number("siren", "FR", " 732 829 320 "),
            Ok("732829320".to_owned())
        );
        assert_eq!(
            registration_number("siren", "FR", "732\u{A0}829\u{202F}320"),
            Ok("732829320".to_owned())
        );
    }

    #[test]
    fn registration_number_refuses_a_siren_with_a_wrong_check_digit() {
        assert_eq!(
            registration_number("siren", "FR", "732829321"),
            Err(Invalid::new(
                "siren",
                "is not a valid SIREN: the check digit does not match"
            ))
        );
    }

    #[test]
    fn registration_number_accepts_a_valid_siret() {
        assert_eq!(
            registration_number("siret", "FR", "732 829 320 00074"),
            Ok("73282932000074".to_owned())
        );
    }

    #[test]
    fn registration_number_refuses_a_siret_with_a_wrong_check_digit() {
        assert_refused(
            "73282932000075",
            registration_number("siret", "FR", "73282932000075"),
            "siret",
            "is not a valid SIRET: the check digit does not match",
        );
    }

    #[test]
    fn registration_number_refuses_a_siret_whose_siren_part_is_invalid() {
        // Luhn holds over the 14 digits, but not over the SIREN 732829321.
        assert!(luhn("73282932100007"));
        assert_refused(
            "73282932100007",
            registration_number("siret", "FR", "73282932100007"),
            "siret",
            "is not a valid SIRET: the check digit does not match",
        );
    }

    #[test]
    fn registration_number_accepts_la_poste_sirets_by_their_own_rule() {
        // Digit sum 15, Luhn fails.
        assert!(!luhn("35600000000001"));
        assert_eq!(
            registration_number("siret", "FR", "356 000 000 00001"),
            Ok("35600000000001".to_owned())
        );
        // The head office follows Luhn (digit sum 26).
        assert_eq!(
            registration_number("siret", "FR", "35600000000048"),
            Ok("35600000000048".to_owned())
        );
        // Neither rule.
        assert_refused(
            "35600000000002",
            registration_number("siret", "FR", "35600000000002"),
            "siret",
            "is not a valid SIRET: the check digit does not match",
        );
    }

    #[test]
    fn registration_number_does_not_extend_the_la_poste_rule_to_other_companies() {
        // Digit sum 40, but not La Poste and not Luhn.
        assert_refused(
            "73282932000004",
            registration_number("siret", "FR", "73282932000004"),
            "siret",
            "is not a valid SIRET: the check digit does not match",
        );
    }

    #[test]
    fn registration_number_refuses_french_numbers_of_other_lengths() {
        for value in ["73282932", "7328293200", "7328293200007", "732829320000740"] {
            assert_eq!(
                registration_number("siren", "FR", value),
                Err(Invalid::new(
                    "siren",
                    "must be a 9-digit SIREN or a 14-digit SIRET"
                )),
                "{value}"
            );
        }
    }

    #[test]
    fn registration_number_refuses_french_numbers_with_non_digits() {
        for value in ["73282932O", "732-829-320", "732.829.320", "FR732829320"] {
            assert_refused(
                value,
                registration_number("siren", "FR", value),
                "siren",
                "must contain only digits",
            );
        }
    }

    #[test]
    fn registration_number_refuses_all_zeros_although_luhn_holds() {
        assert!(luhn("000000000"));
        for (field, zeros) in [("siren", "000000000"), ("siret", "00000000000000")] {
            assert_refused(
                zeros,
                registration_number(field, "FR", zeros),
                field,
                "is not an assigned SIREN or SIRET",
            );
        }
    }

    #[test]
    fn registration_number_applies_the_french_rule_to_a_lower_case_country() {
        assert_refused(
            "732829321",
            registration_number("siren", "fr", "732829321"),
            "siren",
            "is not a valid SIREN: the check digit does not match",
        );
    }

    #[test]
    fn registration_number_refuses_empty_input() {
        assert_eq!(
            registration_number("siren", "FR", "   "),
            Err(Invalid::new("siren", "must not be empty"))
        );
        assert_refused(
            "",
            registration_number("number", "DE", ""),
            "number",
            "must not be empty",
        );
    }

    #[test]
    fn registration_number_accepts_foreign_formats_without_spaces() {
        assert_eq!(
            registration_number("number", "DE", "HRB 12345 B"),
            Ok("HRB12345B".to_owned())
        );
        assert_eq!(
            registration_number("number", "BE", "0123.456.789"),
            Ok("0123.456.789".to_owned())
        );
        assert_eq!(
            registration_number("number", "ES", "B-12/345"),
            Ok("B-12/345".to_owned())
        );
    }

    #[test]
    fn registration_number_accepts_32_characters_abroad_and_refuses_33() {
        assert_eq!(
            registration_number("number", "GB", &"A".repeat(32)),
            Ok("A".repeat(32))
        );
        assert_eq!(
            registration_number("number", "GB", &"A".repeat(33)),
            Err(Invalid::new("number", "must be at most 32 characters long"))
        );
    }

    #[test]
    fn registration_number_refuses_other_characters_abroad() {
        for value in ["SC_123456", "HRB#1", "ÄB12", "12\t34", "12\x0034", "１２３"] {
            assert_refused(
                value,
                registration_number("number", "DE", value),
                "number",
                "may only contain letters, digits, '-', '.' and '/'",
            );
        }
    }

    // ---- amount ----

    #[test]
    fn amount_converts_to_ten_thousandths() {
        assert_eq!(amount("total", Decimal::new(1234, 2), 2), Ok(123_400));
        assert_eq!(amount("total", Decimal::new(1, 0), 2), Ok(10_000));
        assert_eq!(amount("total", Decimal::ZERO, 2), Ok(0));
    }

    #[test]
    fn amount_accepts_trailing_zeros_beyond_the_exponent() {
        // 10.50 EUR, 10.5000 EUR, 100.0 JPY
        assert_eq!(amount("total", Decimal::new(1050, 2), 2), Ok(105_000));
        assert_eq!(amount("total", Decimal::new(105_000, 4), 2), Ok(105_000));
        assert_eq!(amount("total", Decimal::new(1000, 1), 0), Ok(1_000_000));
    }

    #[test]
    fn amount_refuses_more_decimal_places_than_the_currency_has() {
        assert_eq!(
            amount("total", Decimal::new(10_505, 3), 2),
            Err(Invalid::new(
                "total",
                "must have at most 2 decimal places in this currency"
            ))
        );
        assert_eq!(
            amount("total", Decimal::new(1005, 1), 0),
            Err(Invalid::new(
                "total",
                "must be a whole number in this currency"
            ))
        );
    }

    #[test]
    fn amount_honours_three_and_four_decimal_currencies() {
        assert_eq!(amount("total", Decimal::new(1234, 3), 3), Ok(12_340));
        assert_refused(
            "1.2345 in a 3-decimal currency",
            amount("total", Decimal::new(12_345, 4), 3),
            "total",
            "must have at most 3 decimal places in this currency",
        );
        assert_eq!(amount("total", Decimal::new(12_345, 4), 4), Ok(12_345));
    }

    #[test]
    fn amount_refuses_precision_that_cannot_be_stored_whatever_the_exponent() {
        assert_refused(
            "1.23456 in a (made-up) 5-decimal currency",
            amount("total", Decimal::new(123_456, 5), 5),
            "total",
            "must have at most 4 decimal places",
        );
        assert_eq!(amount("total", Decimal::new(123_450, 5), 5), Ok(12_345));
    }

    #[test]
    fn amount_accepts_the_smallest_storable_amount() {
        assert_eq!(amount("total", Decimal::new(1, 4), 4), Ok(1));
    }

    #[test]
    fn amount_accepts_the_largest_storable_amount() {
        assert_eq!(amount("total", Decimal::new(i64::MAX, 4), 4), Ok(i64::MAX));
        // The largest amount a two-decimal currency can reach.
        assert_eq!(
            amount("total", Decimal::new(92_233_720_368_547_758, 2), 2),
            Ok(9_223_372_036_854_775_800)
        );
    }

    #[test]
    fn amount_refuses_values_that_overflow_i64() {
        let just_over = Decimal::from_i128_with_scale(i128::from(i64::MAX) + 1, 4);
        assert_eq!(
            amount("total", just_over, 4),
            Err(Invalid::new(
                "total",
                "must be at most 922337203685477.5807"
            ))
        );
        for too_much in [Decimal::new(922_337_203_685_478, 0), Decimal::MAX] {
            assert_refused(
                too_much,
                amount("total", too_much, 0),
                "total",
                "must be at most 922337203685477.5807",
            );
        }
    }

    #[test]
    fn amount_refuses_negative_values() {
        assert_eq!(
            amount("total", Decimal::new(-1, 2), 2),
            Err(Invalid::new("total", "must not be negative"))
        );
        assert_refused(
            Decimal::MIN,
            amount("total", Decimal::MIN, 0),
            "total",
            "must not be negative",
        );
    }

    #[test]
    fn amount_accepts_negative_zero_as_zero() {
        let mut negative_zero = Decimal::ZERO;
        negative_zero.set_sign_negative(true);
        assert_eq!(amount("total", negative_zero, 2), Ok(0));
    }

    #[test]
    fn amount_from_scaled_restores_the_decimal_without_trailing_zeros() {
        assert_eq!(amount_from_scaled(123_400).to_string(), "12.34");
        assert_eq!(amount_from_scaled(1_000_000).to_string(), "100");
        assert_eq!(amount_from_scaled(1).to_string(), "0.0001");
        assert_eq!(amount_from_scaled(0).to_string(), "0");
        assert_eq!(
            amount_from_scaled(i64::MAX).to_string(),
            "922337203685477.5807"
        );
        assert_eq!(
            amount_from_scaled(i64::MIN).to_string(),
            "-922337203685477.5808"
        );
    }

    #[test]
    fn amount_and_amount_from_scaled_round_trip() {
        for scaled in [0, 1, 99, 123_400, 1_000_000, 105_000, i64::MAX] {
            assert_eq!(
                amount("total", amount_from_scaled(scaled), 4),
                Ok(scaled),
                "{scaled}"
            );
        }
    }

    // ---- quantity ----

    #[test]
    fn quantity_accepts_one_to_a_million() {
        for value in [1, 2, 999_999, 1_000_000] {
            assert_eq!(quantity("quantity", value), Ok(()), "{value}");
        }
    }

    #[test]
    fn quantity_refuses_zero_negative_and_over_a_million() {
        for value in [0, -1, 1_000_001, i32::MIN, i32::MAX] {
            assert_eq!(
                quantity("quantity", value),
                Err(Invalid::new("quantity", "must be between 1 and 1000000")),
                "{value}"
            );
        }
    }

    // ---- luhn ----

    #[test]
    fn luhn_accepts_correct_checksums() {
        assert!(luhn("79927398713"));
        assert!(luhn("4539578763621486"));
        assert!(luhn("0"));
        assert!(luhn("732829320"));
    }

    #[test]
    fn luhn_refuses_wrong_checksums() {
        assert!(!luhn("79927398710"));
        assert!(!luhn("732829321"));
        assert!(!luhn("1"));
    }

    #[test]
    fn luhn_refuses_empty_and_non_digit_input() {
        assert!(!luhn(""));
        assert!(!luhn("7992 7398 713"));
        assert!(!luhn("79927398a13"));
        assert!(!luhn("٧٩٩٢٧٣٩٨٧١٣"));
        assert!(!luhn("-0"));
    }

    #[test]
    fn luhn_handles_very_long_input_without_overflow() {
        assert!(luhn(&"0".repeat(100_000)));
        assert!(!luhn(&format!("{}1", "0".repeat(100_000))));
    }
}
