//! Just enough XML for EC2 query answers: elements, text, entities; attributes ignored.

use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub(super) struct XmlElement {
    name: String,
    text: String,
    children: Vec<XmlElement>,
}

impl XmlElement {
    pub(super) fn child(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find(|c| c.name == name)
    }

    pub(super) fn children<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a XmlElement> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed non-empty text.
    pub(super) fn text(&self) -> Option<&str> {
        Some(self.text.trim()).filter(|t| !t.is_empty())
    }

    pub(super) fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)?.text()
    }

    /// The first descendant named `name` (depth first).
    pub(super) fn find(&self, name: &str) -> Option<&XmlElement> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }
}

pub(super) fn parse_xml(xml: &str) -> Result<XmlElement> {
    parse_xml_inner(xml).map_err(|message| Error::MotoRequest {
        request: "EC2 answer".to_owned(),
        status: None,
        message: format!("unreadable XML: {message}"),
    })
}

fn parse_xml_inner(xml: &str) -> std::result::Result<XmlElement, String> {
    let mut stack = vec![XmlElement::default()];
    let mut rest = xml;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            append_text(&mut stack, rest);
            break;
        };
        append_text(&mut stack, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<?") {
            let end = after.find("?>").ok_or("unterminated <?")?;
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unterminated comment")?;
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").ok_or("unterminated CDATA")?;
            if let Some(top) = stack.last_mut() {
                top.text.push_str(&after[..end]);
            }
            rest = &after[end + 3..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("unterminated end tag")?;
            let name = after[..end].trim();
            let element = stack.pop().ok_or("unbalanced end tag")?;
            if element.name != name {
                return Err(format!("</{name}> closes <{}>", element.name));
            }
            stack
                .last_mut()
                .ok_or("end tag without a parent")?
                .children
                .push(element);
            rest = &after[end + 1..];
        } else {
            let end = rest.find('>').ok_or("unterminated tag")?;
            let inner = &rest[1..end];
            let self_closing = inner.ends_with('/');
            let inner = inner.trim_end_matches('/');
            let name = inner
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_owned();
            let element = XmlElement {
                name,
                ..XmlElement::default()
            };
            if self_closing {
                stack.last_mut().ok_or("no parent")?.children.push(element);
            } else {
                stack.push(element);
            }
            rest = &rest[end + 1..];
        }
    }
    if stack.len() != 1 {
        return Err("unclosed elements".to_owned());
    }
    stack.pop().ok_or_else(|| "empty document".to_owned())
}

fn append_text(stack: &mut [XmlElement], text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(top) = stack.last_mut() {
        top.text.push_str(
            &text
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&#xA;", "\n")
                .replace("&#10;", "\n")
                .replace("&amp;", "&"),
        );
    }
}
