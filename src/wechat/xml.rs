//! A flat reader for WeChat's `<xml>` documents: child elements to trimmed text, with
//! DOCTYPE refused so that no entity is ever declared or expanded.

use std::collections::BTreeMap;

use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;

/// Deepest element accepted, `<xml>` being 1. WeChat nests three levels at most
/// (`SendPicsInfo` > `PicList` > `item` > `PicMd5Sum`).
const MAX_DEPTH: usize = 8;
/// Most elements accepted in one document; real pushes have a few dozen.
const MAX_ELEMENTS: usize = 1024;
/// Longest element name quoted back in an error.
const MAX_QUOTED_NAME_CHARS: usize = 40;

/// Why a pushed document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    /// The bytes are not well-formed XML.
    #[error("malformed xml: {0}")]
    Malformed(String),
    /// The document has no root element at all.
    #[error("malformed xml: no root element, expected <xml>")]
    NoRoot,
    /// The root element is not `<xml>`.
    #[error("root element is <{0}>, expected <xml>")]
    NotXmlRoot(String),
    /// A DOCTYPE, and with it any entity declaration, is never accepted.
    #[error("xml with a doctype or entity declaration is refused")]
    Doctype,
    /// Elements are nested deeper than any WeChat push.
    #[error("xml nests elements deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// More elements than any WeChat push carries.
    #[error("xml has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    /// A required element is absent or empty.
    #[error("required element <{0}> is missing or empty")]
    Missing(&'static str),
}

/// The text of every element under `<xml>`, by name: CDATA unwrapped, the predefined
/// entities and character references unescaped, surrounding whitespace trimmed.
///
/// An empty element is kept as `""`. Nested elements are flattened to a dotted path
/// (`<ScanCodeInfo><ScanType>` becomes `ScanCodeInfo.ScanType`); an element with
/// children contributes only its children. When a name repeats, the first one wins.
/// Attributes, comments and processing instructions are ignored.
pub fn parse_children(xml: &[u8]) -> Result<BTreeMap<String, String>, XmlError> {
    let mut reader = Reader::from_reader(xml);
    let mut walk = Walk::default();

    loop {
        match reader.read_event().map_err(malformed)? {
            XmlEvent::DocType(_) => return Err(XmlError::Doctype),
            XmlEvent::Start(start) => walk.open(name_of(start.name().as_ref())?)?,
            XmlEvent::Empty(start) => {
                walk.open(name_of(start.name().as_ref())?)?;
                walk.close();
            }
            XmlEvent::End(_) => walk.close(),
            XmlEvent::Text(text) => walk.text(&text.unescape().map_err(malformed)?)?,
            XmlEvent::CData(data) => walk.text(std::str::from_utf8(&data).map_err(malformed)?)?,
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) => {}
            XmlEvent::Eof => return walk.finish(),
        }
    }
}

/// Where the reader is: the open elements, the text of the innermost one and what has
/// been collected so far.
#[derive(Default)]
struct Walk {
    /// Open elements below `<xml>`, each with whether it has a child element.
    path: Vec<(String, bool)>,
    /// Text of the innermost open element.
    text: String,
    root: Root,
    elements: usize,
    fields: BTreeMap<String, String>,
}

#[derive(Default, PartialEq)]
enum Root {
    #[default]
    Before,
    Open,
    Closed,
}

impl Walk {
    fn open(&mut self, name: String) -> Result<(), XmlError> {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(XmlError::TooManyElements);
        }

        match self.root {
            Root::Before if name == "xml" => self.root = Root::Open,
            Root::Before => return Err(XmlError::NotXmlRoot(quoted(&name))),
            Root::Closed => return Err(malformed("an element after </xml>")),
            // `<xml>` is depth 1 and not on the path, so the new element is at len + 2.
            Root::Open if self.path.len() + 2 > MAX_DEPTH => return Err(XmlError::TooDeep),
            Root::Open => {
                if let Some(parent) = self.path.last_mut() {
                    parent.1 = true;
                }
                self.path.push((name, false));
                self.text.clear();
            }
        }

        Ok(())
    }

    fn close(&mut self) {
        let Some((name, has_children)) = self.path.pop() else {
            self.root = Root::Closed;
            return;
        };

        if !has_children {
            let key = if self.path.is_empty() {
                name
            } else {
                dotted(&self.path, &name)
            };
            let value = self.text.trim();
            self.fields.entry(key).or_insert_with(|| value.to_owned());
        }

        self.text.clear();
    }

    fn text(&mut self, text: &str) -> Result<(), XmlError> {
        match self.root {
            Root::Open => self.text.push_str(text),
            _ if text.trim().is_empty() => {}
            _ => return Err(malformed("text outside the <xml> element")),
        }

        Ok(())
    }

    fn finish(self) -> Result<BTreeMap<String, String>, XmlError> {
        match self.root {
            Root::Before => Err(XmlError::NoRoot),
            Root::Open => Err(malformed("the document ends before </xml>")),
            Root::Closed => Ok(self.fields),
        }
    }
}

/// `Parent.Child.Leaf`: the open elements under `<xml>`, then the leaf.
fn dotted(parents: &[(String, bool)], leaf: &str) -> String {
    let mut key = String::new();
    for (parent, _) in parents {
        key.push_str(parent);
        key.push('.');
    }
    key.push_str(leaf);
    key
}

fn name_of(raw: &[u8]) -> Result<String, XmlError> {
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| malformed("an element name is not utf-8"))
}

fn quoted(name: &str) -> String {
    name.chars().take(MAX_QUOTED_NAME_CHARS).collect()
}

fn malformed(cause: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(cause.to_string())
}

#[cfg(test)]
mod tests;
