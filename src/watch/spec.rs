//! The specification of matching, as a table: each row a watch (the body of a `[[watch]]`
//! table, read by the real config reader), an item's text (HTML, as a feed gives it; the
//! content field unless the row names fields) and the matches expected, as the words
//! found (`"CIS"`) or, where the field matters, `"title:CIS"`. No matches: the watch does
//! not fire. Then a property: HTML wrapping and whitespace never change what matches.

use super::*;
use crate::config::{self, Env};
use crate::schedule::XorShift;
use crate::text::{html_to_text, link_to_text};

use Field::{Categories, Content, Link, Title};

struct Row {
    watch: &'static str,
    fields: Vec<(Field, &'static str)>,
    expect: &'static [&'static str],
}

/// A row whose text is the item's content.
fn c(watch: &'static str, html: &'static str, expect: &'static [&'static str]) -> Row {
    Row {
        watch,
        fields: vec![(Content, html)],
        expect,
    }
}

/// A row with several fields.
fn f(
    watch: &'static str,
    fields: &[(Field, &'static str)],
    expect: &'static [&'static str],
) -> Row {
    Row {
        watch,
        fields: fields.to_vec(),
        expect,
    }
}

const CIS: &str = "terms = ['CIS']";
const SNG: &str = "terms = ['СНГ']";
const ODKB: &str = "terms = ['ОДКБ']";
const PHRASE: &str = "terms = ['Commonwealth of Independent States']";
const STEM: &str = "terms = [{ term = 'Содружеств', stem = true }]";
const NOT_CUP: &str = "terms = ['CIS']\nnot = ['CIS Cup']";
const ALL: &str = "all = [['CSTO', 'ОДКБ'], ['Armenia', 'Армения']]";
const NEAR: &str = "near = { terms = ['CSTO', 'Armenia'], within = 3 }";

fn table() -> Vec<Row> {
    vec![
        // acronyms are whole words, in capitals
        c(CIS, "CIS leaders met", &["CIS"]),
        c(CIS, "a decision was made", &[]),
        c(CIS, "cisgender rights", &[]),
        c(CIS, "in San Francisco", &[]),
        c(CIS, "precise and concise", &[]),
        c(CIS, "a CIS-wide agreement", &["CIS"]),
        c(CIS, "the CIS's members", &["CIS"]),
        c(CIS, "the cis leaders", &[]),
        c(CIS, "Cis", &[]),
        c(CIS, "CISCO routers", &[]),
        c(CIS, "(CIS)", &["CIS"]),
        c(CIS, "«CIS»", &["CIS"]),
        c(CIS, "the CIS.", &["CIS"]),
        c(CIS, "CIS_2024", &[]),
        c(CIS, "CIS2", &[]),
        c(CIS, "ＣＩＳ in full width", &["CIS"]),
        c(
            "terms = [{ term = 'CIS', case = 'insensitive' }]",
            "the cis leaders",
            &["cis"],
        ),
        c(
            "terms = [{ term = 'Cis', case = 'sensitive' }]",
            "CIS and Cis",
            &["Cis"],
        ),
        c(
            "terms = ['CIS', 'СНГ']",
            "CIS и СНГ, CIS again",
            &["CIS", "СНГ"],
        ),
        c(
            "terms = ['CIS', 'CIS summit']",
            "the CIS summit",
            &["CIS", "CIS summit"],
        ),
        // Cyrillic: whole words, inflections by stem, ё is е
        c(SNG, "Лидеры СНГ встретились", &["СНГ"]),
        c(SNG, "СНГовский формат", &[]),
        c(SNG, "страны снг", &[]),
        c(SNG, "(СНГ)", &["СНГ"]),
        c(ODKB, "Учения ОДКБ прошли", &["ОДКБ"]),
        c(ODKB, "ОДКБ-2024", &["ОДКБ"]),
        c(ODKB, "ОДКБx", &[]),
        c(
            "terms = ['Содружество Независимых Государств']",
            "саммит Содружества Независимых Государств",
            &[],
        ),
        c(
            "terms = ['Содружества Независимых Государств']",
            "саммит Содружества Независимых Государств",
            &["Содружества Независимых Государств"],
        ),
        c(
            "terms = ['Содружества Независимых Государств']",
            "саммит содружества независимых государств",
            &["содружества независимых государств"],
        ),
        c(
            STEM,
            "саммит Содружества Независимых Государств",
            &["Содружества"],
        ),
        c(STEM, "вместе с Содружеством", &["Содружеством"]),
        c(STEM, "Содружество", &["Содружество"]),
        c(STEM, "СОДРУЖЕСТВА", &["СОДРУЖЕСТВА"]),
        c(STEM, "несодружество", &[]),
        c(
            "terms = ['Объединённые']",
            "Объединенные Арабские Эмираты",
            &["Объединенные"],
        ),
        c(
            "terms = ['Объединенные']",
            "Объединённые Арабские Эмираты",
            &["Объединенные"],
        ),
        // phrases across whitespace, line breaks and tags
        c(
            PHRASE,
            "the Commonwealth\n of  Independent\tStates",
            &["Commonwealth of Independent States"],
        ),
        c(
            PHRASE,
            "<p>Commonwealth of</p><p>Independent States</p>",
            &["Commonwealth of Independent States"],
        ),
        c(
            PHRASE,
            "Commonwealth of <b>Independent</b> States",
            &["Commonwealth of Independent States"],
        ),
        c(
            PHRASE,
            "Common<b>wealth</b> of Independent States",
            &["Commonwealth of Independent States"],
        ),
        c(
            PHRASE,
            "Commonwealth<br>of Independent States",
            &["Commonwealth of Independent States"],
        ),
        c(
            PHRASE,
            "Commonwealth&nbsp;of Independent&#32;States",
            &["Commonwealth of Independent States"],
        ),
        c(
            PHRASE,
            "commonwealth of independent states",
            &["commonwealth of independent states"],
        ),
        c(PHRASE, "Commonwealth of Independent Statesmen", &[]),
        c(PHRASE, "Commonwealth, of Independent States", &[]),
        c(CIS, "<b>C</b>IS", &["CIS"]),
        c(CIS, "C<p>IS", &[]),
        // link text matches, attributes and markup never do
        c(
            CIS,
            r#"<a href="https://x.example/CIS">the CIS summit</a>"#,
            &["CIS"],
        ),
        c(CIS, r#"<a href="/cis" title="CIS">news</a>"#, &[]),
        c(CIS, r#"<img alt="CIS" src="CIS.png"> photo"#, &[]),
        c(CIS, r#"<span class="CIS" data-x='CIS'>x</span>"#, &[]),
        c(CIS, "a <!-- CIS --> b", &[]),
        c(
            CIS,
            "<script>var CIS = 1;</script><style>.CIS {}</style>",
            &[],
        ),
        c(CIS, "&#67;&#73;&#x53;", &["CIS"]),
        c(CIS, "&lt;CIS&gt;", &["CIS"]),
        c(SNG, "&#1057;&#1053;&#1043;", &["СНГ"]),
        // emoji and invisible characters
        c(CIS, "🇷🇺CIS🇰🇿", &["CIS"]),
        c(CIS, "CIS🙂", &["CIS"]),
        c(CIS, "C\u{200B}IS", &["CIS"]),
        c(CIS, "CIS\u{200D}", &["CIS"]),
        c(CIS, "\u{FEFF}CIS", &["CIS"]),
        c(CIS, "C\u{00AD}IS", &["CIS"]),
        c(SNG, "СН\u{200B}Г", &["СНГ"]),
        c(PHRASE, "Commonwealth of 👍 Independent States", &[]),
        // not: one exclusion suppresses the watch for the whole item
        c(NOT_CUP, "CIS summit", &["CIS"]),
        c(NOT_CUP, "CIS Cup final", &[]),
        c(NOT_CUP, "CIS summit; the CIS Cup later", &[]),
        c(NOT_CUP, "the CIS cup", &[]),
        f(
            NOT_CUP,
            &[(Title, "CIS summit"), (Content, "after the CIS Cup")],
            &[],
        ),
        c(
            "terms = ['CSTO']\nnot = [{ regex = '(?i)\\bquiz\\b' }]",
            "CSTO Quiz",
            &[],
        ),
        c(
            "terms = ['CSTO']\nnot = [{ regex = '(?i)\\bquiz\\b' }]",
            "CSTO quizzes",
            &["CSTO"],
        ),
        // all: every group
        c(ALL, "CSTO drills in Armenia", &["CSTO", "Armenia"]),
        c(ALL, "CSTO drills", &[]),
        c(ALL, "учения ОДКБ, Армения", &["ОДКБ", "Армения"]),
        c(
            ALL,
            "CSTO and ОДКБ in Armenia",
            &["CSTO", "ОДКБ", "Armenia"],
        ),
        f(
            ALL,
            &[(Title, "CSTO"), (Content, "Armenia")],
            &["title:CSTO", "content:Armenia"],
        ),
        c("all = ['CSTO', 'Armenia']", "Armenia", &[]),
        c("terms = ['CSTO']\nall = ['Armenia']", "CSTO", &[]),
        c(
            "terms = ['CSTO']\nall = ['Armenia']",
            "CSTO Armenia",
            &["CSTO", "Armenia"],
        ),
        c(
            "all = [['CSTO'], ['Armenia']]\nnot = ['exercise']",
            "CSTO exercise in Armenia",
            &[],
        ),
        // near: at most N words between, either order, same field
        c(NEAR, "CSTO troops arrive in Armenia", &["CSTO", "Armenia"]),
        c(NEAR, "CSTO troops arrived today in Armenia", &[]),
        c(NEAR, "Armenia hosts the CSTO", &["Armenia", "CSTO"]),
        c(NEAR, "CSTO, Armenia", &["CSTO", "Armenia"]),
        c(NEAR, "CSTO", &[]),
        f(NEAR, &[(Title, "CSTO"), (Content, "Armenia")], &[]),
        c(
            "near = { terms = ['CSTO', 'Armenia'], within = 0 }",
            "CSTO Armenia",
            &["CSTO", "Armenia"],
        ),
        c(
            "near = { terms = ['CSTO', 'Armenia'], within = 0 }",
            "CSTO in Armenia",
            &[],
        ),
        c(
            "near = { terms = [{ term = 'войск', stem = true }, 'ОДКБ'], within = 2 }",
            "войска ОДКБ",
            &["войска", "ОДКБ"],
        ),
        // fields: where a watch looks
        f(
            "terms = ['CIS']\nfields = ['title']",
            &[(Title, "x"), (Content, "CIS")],
            &[],
        ),
        f(
            "terms = ['CIS']\nfields = ['title']",
            &[(Title, "CIS"), (Content, "CIS")],
            &["title:CIS"],
        ),
        f(CIS, &[(Link, "https://x.example/CIS-summit")], &[]),
        f(
            "terms = ['CIS']\nfields = ['link']",
            &[(Link, "https://x.example/CIS-summit")],
            &["link:CIS"],
        ),
        f(
            "terms = ['СНГ']\nfields = ['link']",
            &[(Link, "https://ria.ru/%D0%A1%D0%9D%D0%93-summit")],
            &["link:СНГ"],
        ),
        f(
            "terms = ['CIS']\nfields = ['categories']",
            &[(Categories, "World · CIS")],
            &["categories:CIS"],
        ),
        f(
            "terms = ['CIS']\nnot = ['Cup']\nfields = ['title']",
            &[(Title, "CIS summit"), (Content, "Cup")],
            &["title:CIS"],
        ),
        // regex terms: as written, over normalised text, with their own matches
        c(
            "terms = [{ regex = '\\bОДКБ-\\d+' }]",
            "учения ОДКБ-2024 прошли",
            &["ОДКБ-2024"],
        ),
        c("terms = [{ regex = 'csto' }]", "CSTO", &[]),
        c("terms = [{ regex = '(?i)csto' }]", "CSTO", &["CSTO"]),
        c(
            "terms = [{ regex = 'csto', case = 'insensitive' }]",
            "CSTO",
            &["CSTO"],
        ),
        c("terms = [{ regex = '\\bСНГ\\b' }]", "СНГовский", &[]),
        c(
            "terms = [{ regex = 'Commonwealth of' }]",
            "Commonwealth\n\n  of",
            &["Commonwealth of"],
        ),
        // plain terms are never regexes: their punctuation is literal
        c("terms = ['C++']", "I write C++ and C#", &["C++"]),
        c("terms = ['a.b']", "axb", &[]),
        c("terms = ['a.b']", "see a.b now", &["a.b"]),
        c("terms = ['(CSTO)']", "the (CSTO) said", &["(CSTO)"]),
    ]
}

/// The matcher for one `[[watch]]` body, through the real config reader.
fn matcher(watch: &str) -> Matcher {
    let text =
        format!("[[feeds]]\nname = 'f'\nurl = 'http://x/'\n[[watch]]\nname = 'w'\n{watch}\n");
    let config = config::parse(&text, "row", None, &Env::default())
        .unwrap_or_else(|e| panic!("row watch {watch:?}: {e}"));
    Matcher::new(&config.watches).unwrap()
}

fn prepare(field: Field, raw: &str) -> String {
    match field {
        Link => link_to_text(raw),
        _ => html_to_text(raw),
    }
}

#[test]
fn the_specification_table() {
    let rows = table();
    assert!(rows.len() >= 60, "{} rows", rows.len());
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let m = matcher(row.watch);
        let texts: Vec<(Field, String)> = row
            .fields
            .iter()
            .map(|(f, raw)| (*f, prepare(*f, raw)))
            .collect();
        let fields: Vec<(Field, &str)> = texts.iter().map(|(f, t)| (*f, t.as_str())).collect();
        let fired = m.check(Some(&["f".to_string()]), &fields);
        let with_field = row.expect.iter().any(|e| {
            e.split_once(':')
                .is_some_and(|(f, _)| Field::parse(f).is_some())
        });
        let got: Vec<String> = fired
            .iter()
            .flat_map(|f| &f.matches)
            .map(|m| match with_field {
                true => format!("{}:{}", m.field.name(), m.text),
                false => m.text.clone(),
            })
            .collect();
        if got != row.expect {
            failures.push(format!(
                "row {i}: watch {:?} on {:?}: expected {:?}, got {got:?}",
                row.watch, row.fields, row.expect
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const WORDS: &[&str] = &[
    "CIS",
    "decision",
    "cisgender",
    "Francisco",
    "CIS-wide",
    "CIS's",
    "СНГ",
    "Содружества",
    "Содружеством",
    "Независимых",
    "Государств",
    "Commonwealth",
    "of",
    "Independent",
    "States",
    "CSTO",
    "ОДКБ",
    "Armenia",
    "Армения",
    "troops",
    "Cup",
    "the",
    "in",
    "and",
    "quiz",
    "AT&T",
    "5 < 6",
    "🙂",
    "🇷🇺",
    "«",
    "»",
    ",",
    ".",
    "учения",
    "прошли",
    "Ёлка",
    "ﬁnal",
];

const INLINE: &[&str] = &[
    "<b>",
    "<i>",
    "<em>",
    "<span class=\"CIS ОДКБ\">",
    "<a href=\"https://x/CIS?q=CSTO\" title=\"СНГ\">",
    "<strong data-term='CSTO'>",
];

const SEPARATORS: &[&str] = &[
    " ",
    "  ",
    "\n",
    "\t",
    " \r\n ",
    "<br>",
    "<br/>",
    "</p><p>",
    "<div>",
    "</li><li>",
    " <b></b> ",
    "<!-- CIS -->",
    "&nbsp;",
    "&#32;",
];

/// The watches the property is checked with: every rule kind.
const PROPERTY_WATCHES: &str = "
[[watch]]
name = 'cis'
terms = ['CIS', 'Commonwealth of Independent States', { term = 'Содружеств', stem = true }]
not = ['CIS Cup']
[[watch]]
name = 'csto'
all = [['CSTO', 'ОДКБ'], ['Armenia', 'Армения']]
[[watch]]
name = 'near'
near = { terms = ['CSTO', 'troops'], within = 2 }
[[watch]]
name = 'regex'
terms = [{ regex = '(?i)\\bquiz\\w*' }, 'AT&T', 'ёлка']
";

/// The closing tag of an inline opening tag.
fn close(open: &str) -> String {
    let name: String = open[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("</{name}>")
}

/// Writes `c` as a character reference, or as itself.
fn entity(rng: &mut XorShift, c: char) -> String {
    match (c, rng.below(3)) {
        ('&', _) => "&amp;".into(),
        ('<', _) => "&lt;".into(),
        (_, 0) => format!("&#{};", c as u32),
        (_, 1) => format!("&#x{:X};", c as u32),
        _ => c.to_string(),
    }
}

/// One word as HTML: characters as references, an inline tag around it or inside it,
/// invisible characters between its letters.
fn wrap_word(rng: &mut XorShift, word: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = word.chars().collect();
    let split = (chars.len() > 1 && rng.chance(20)).then(|| 1 + rng.below(chars.len() - 1));
    let tag = rng.pick(INLINE);
    for (i, &c) in chars.iter().enumerate() {
        if Some(i) == split {
            out.push_str(tag);
        }
        if i > 0 && c.is_alphanumeric() && chars[i - 1].is_alphanumeric() && rng.chance(5) {
            out.push_str(rng.pick(&["\u{200B}", "\u{00AD}", "\u{2060}", "&#8203;"]));
        }
        if c == '&' || c == '<' || rng.chance(15) {
            out.push_str(&entity(rng, c));
        } else {
            out.push(c);
        }
    }
    if split.is_some() {
        out.push_str(&close(tag));
    }
    if rng.chance(20) {
        let tag = rng.pick(INLINE);
        out = format!("{tag}{out}{}", close(tag));
    }
    out
}

/// The same text matches the same way whatever HTML wraps it and whatever whitespace
/// separates its words: tags (inline inside words, block between them), attributes that
/// mention terms, comments, character references, invisible characters.
#[test]
fn html_wrapping_and_whitespace_never_change_matches() {
    let config = config::parse(
        &format!("[[feeds]]\nname = 'f'\nurl = 'http://x/'\n{PROPERTY_WATCHES}"),
        "property",
        None,
        &Env::default(),
    )
    .unwrap();
    let m = Matcher::new(&config.watches).unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut fired_cases = 0;
    for case in 0..3000 {
        let n = 1 + rng.below(40);
        let words: Vec<&str> = (0..n).map(|_| rng.pick(WORDS)).collect();
        let plain = words.join(" ");
        let mut html = String::from(rng.pick(&["", "<p>", "  ", "<div class=\"CIS\">"]));
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                html.push_str(rng.pick(SEPARATORS));
            }
            // multi-word atoms ("5 < 6") keep their inner spaces and are not split
            if w.contains(' ') || w.contains('<') {
                html.push_str(&w.replace('<', "&lt;"));
            } else {
                html.push_str(&wrap_word(&mut rng, w));
            }
        }
        html.push_str(rng.pick(&["", "</p>", "\n", "</div>"]));
        let expected_text = normalize(&plain);
        let wrapped_text = html_to_text(&html);
        assert_eq!(
            wrapped_text, expected_text,
            "case {case}: the text differs\nplain: {plain:?}\nhtml:  {html:?}"
        );
        let expected = m.check(None, &[(Content, &expected_text)]);
        let got = m.check(None, &[(Content, &wrapped_text)]);
        assert_eq!(
            got, expected,
            "case {case}\nplain: {plain:?}\nhtml:  {html:?}"
        );
        fired_cases += usize::from(!expected.is_empty());
    }
    // the generator must exercise the watches, not only the silence
    assert!(fired_cases > 1000, "only {fired_cases} cases fired a watch");
}
