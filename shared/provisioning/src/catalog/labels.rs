//! Labels Karpenter derives from an instance type's name.

/// `m5.large` -> family `m5`, size `large`, category `m`, generation `5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameLabels {
    pub family: String,
    pub size: Option<String>,
    pub category: Option<String>,
    pub generation: Option<String>,
}

/// Category and generation follow `^([a-z]+)(-[0-9]+tb)?([0-9]+)` on the family, as
/// Karpenter's AWS provider parses them; a family that does not match has neither.
pub fn name_labels(name: &str) -> NameLabels {
    let (family, size) = match name.split_once('.') {
        Some((f, s)) => (f, Some(s.to_string())),
        None => (name, None),
    };
    let b = family.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_lowercase()).count();
    let mut pos = letters;
    // optional `-<digits>tb` (u-6tb1)
    if letters > 0 && b.get(pos) == Some(&b'-') {
        let digits = b[pos + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 && b[pos + 1 + digits..].starts_with(b"tb") {
            pos += 1 + digits + 2;
        }
    }
    let gen_digits = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
    let (category, generation) = if letters > 0 && gen_digits > 0 {
        (
            Some(family[..letters].to_string()),
            Some(family[pos..pos + gen_digits].to_string()),
        )
    } else {
        (None, None)
    };
    NameLabels {
        family: family.to_string(),
        size,
        category,
        generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_like_karpenter() {
        let l = name_labels("m5.large");
        assert_eq!(
            (
                l.family.as_str(),
                l.size.as_deref(),
                l.category.as_deref(),
                l.generation.as_deref()
            ),
            ("m5", Some("large"), Some("m"), Some("5"))
        );
        let l = name_labels("u-6tb1.metal");
        assert_eq!(
            (
                l.family.as_str(),
                l.category.as_deref(),
                l.generation.as_deref()
            ),
            ("u-6tb1", Some("u"), Some("1"))
        );
        let l = name_labels("c6gd.2xlarge");
        assert_eq!(
            (l.category.as_deref(), l.generation.as_deref()),
            (Some("c"), Some("6"))
        );
        let l = name_labels("fake1.large");
        assert_eq!(
            (l.category.as_deref(), l.generation.as_deref()),
            (Some("fake"), Some("1"))
        );
        let l = name_labels("weird");
        assert_eq!((l.category, l.generation, l.size), (None, None, None));
    }
}
