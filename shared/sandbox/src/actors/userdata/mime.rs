//! MIME multipart user data: the parts (media type, decoded body) a bootstrap reads.

use std::collections::BTreeMap;

use super::{decode_base64, invalid};
use crate::error::Result;

pub(super) struct MimePart {
    /// Lower-case media type without parameters (`text/x-shellscript`); empty if absent.
    pub(super) content_type: String,
    pub(super) body: String,
}

/// The parts of a MIME multipart document, or `None` if `text` is not one.
pub(super) fn mime_parts(text: &str) -> Result<Option<Vec<MimePart>>> {
    let (headers, body) = split_headers(text);
    let Some(content_type) = headers.get("content-type") else {
        return Ok(None);
    };
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return Ok(None);
    }
    let boundary = header_param(content_type, "boundary")
        .ok_or_else(|| invalid("multipart user data without a boundary"))?;
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        let trimmed = line.trim_end();
        if trimmed == close {
            break;
        }
        if trimmed == open {
            if let Some(lines) = current.take() {
                parts.extend(mime_part(&lines.join("\n"))?);
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some(lines) = current.take() {
        parts.extend(mime_part(&lines.join("\n"))?);
    }
    Ok(Some(parts))
}

fn mime_part(raw: &str) -> Result<Vec<MimePart>> {
    let (headers, body) = split_headers(raw);
    let full_type = headers.get("content-type").cloned().unwrap_or_default();
    let content_type = full_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let encoding = headers
        .get("content-transfer-encoding")
        .map(|e| e.trim().to_ascii_lowercase());
    let body = if encoding.as_deref() == Some("base64") {
        decode_base64(body)?
    } else {
        body.to_owned()
    };
    if content_type.starts_with("multipart/") {
        let nested = format!("Content-Type: {full_type}\n\n{body}");
        return Ok(mime_parts(&nested)?.unwrap_or_default());
    }
    Ok(vec![MimePart { content_type, body }])
}

/// RFC 822-style headers (lower-case names; continuation lines joined) up to the first
/// blank line, and the rest. Text that does not start with a header has none.
fn split_headers(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut headers = BTreeMap::new();
    let mut last: Option<String> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches('\n').trim_end_matches('\r');
        if content.trim().is_empty() {
            offset += line.len();
            return (headers, &text[offset..]);
        }
        if content.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|name| headers.get_mut(name)) {
                let value: &mut String = value;
                value.push(' ');
                value.push_str(content.trim());
                offset += line.len();
                continue;
            }
        }
        let Some((name, value)) = content.split_once(':') else {
            return (BTreeMap::new(), text);
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return (BTreeMap::new(), text);
        }
        let name = name.to_ascii_lowercase();
        headers.insert(name.clone(), value.trim().to_owned());
        last = Some(name);
        offset += line.len();
    }
    (headers, "")
}

/// A `; name=value` parameter of a header, unquoted.
fn header_param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
    })
}
