//! Exclusive XML Canonicalization 1.0, without comments
//! (`http://www.w3.org/2001/10/xml-exc-c14n#`), of one element of a parsed
//! document, leaving out one of its descendants (the enveloped signature):
//! what XML-DSig digests and signs in SAML.
//!
//! Prefixes are read from the document's text as written (a canonical form
//! keeps them), namespaces from the parser's resolution of them.

use std::collections::BTreeMap;

use roxmltree::{Node, NodeId, NodeType};

/// The namespace of the `xml` prefix (never declared in the output).
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// The canonical form of `element`'s subtree without `exclude` (and its
/// subtree), rendering also the namespaces of `inclusive` prefixes in scope
/// (an `InclusiveNamespaces PrefixList`; `#default` is the default
/// namespace).
pub fn exclusive(element: Node<'_, '_>, exclude: Option<NodeId>, inclusive: &[&str]) -> String {
    let mut c = Canonicalizer {
        out: String::new(),
        input: element.document().input_text(),
        exclude,
        inclusive: inclusive
            .iter()
            .map(|p| {
                if *p == "#default" {
                    String::new()
                } else {
                    (*p).to_owned()
                }
            })
            .collect(),
    };
    c.element(element, &BTreeMap::new());
    c.out
}

struct Canonicalizer<'i> {
    out: String,
    input: &'i str,
    exclude: Option<NodeId>,
    /// Prefixes rendered wherever in scope ("" is the default namespace).
    inclusive: Vec<String>,
}

impl Canonicalizer<'_> {
    /// `rendered`: the namespace each prefix was last declared with in the
    /// output, on the path from the apex to here.
    fn element(&mut self, node: Node<'_, '_>, rendered: &BTreeMap<String, String>) {
        let qname = self.element_qname(node);
        let prefix = qname.split_once(':').map_or("", |(p, _)| p).to_owned();

        // The prefixes this element visibly uses, and the inclusive ones.
        let mut used: Vec<String> = vec![prefix.clone()];
        let mut attributes: Vec<(String, String, String, String)> = Vec::new(); // (ns, local, qname, value)
        for a in node.attributes() {
            let aq = self.attribute_qname(&a);
            if let Some((p, _)) = aq.split_once(':') {
                if p != "xml" && !used.iter().any(|u| u == p) {
                    used.push(p.to_owned());
                }
            }
            attributes.push((
                a.namespace().unwrap_or("").to_owned(),
                a.name().to_owned(),
                aq,
                a.value().to_owned(),
            ));
        }
        for p in &self.inclusive {
            if !used.contains(p) {
                used.push(p.clone());
            }
        }

        let mut here = rendered.clone();
        let mut declarations: Vec<(String, String)> = Vec::new();
        for p in used {
            let uri = if p.is_empty() {
                // The element's own namespace when unprefixed; for an
                // inclusive #default, the default namespace in scope.
                if p == prefix {
                    node.tag_name().namespace().unwrap_or("").to_owned()
                } else {
                    in_scope(node, None).unwrap_or_default()
                }
            } else {
                match in_scope(node, Some(&p)) {
                    Some(uri) => uri,
                    // An inclusive prefix not in scope here: nothing.
                    None => continue,
                }
            };
            if p == "xml" || uri == XML_NAMESPACE {
                continue;
            }
            let before = rendered.get(&p).map(String::as_str);
            let needed = match (p.is_empty(), uri.is_empty()) {
                // xmlns="" only to undo a default namespace rendered above.
                (true, true) => before.is_some_and(|b| !b.is_empty()),
                _ => before != Some(uri.as_str()),
            };
            if needed {
                here.insert(p.clone(), uri.clone());
                declarations.push((p, uri));
            }
        }
        declarations.sort();
        attributes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));

        self.out.push('<');
        self.out.push_str(&qname);
        for (p, uri) in &declarations {
            if p.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(p);
                self.out.push_str("=\"");
            }
            escape_attribute(&mut self.out, uri);
            self.out.push('"');
        }
        for (_, _, q, value) in &attributes {
            self.out.push(' ');
            self.out.push_str(q);
            self.out.push_str("=\"");
            escape_attribute(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('>');
        for child in node.children() {
            if Some(child.id()) == self.exclude {
                continue;
            }
            match child.node_type() {
                NodeType::Element => self.element(child, &here),
                NodeType::Text => escape_text(&mut self.out, child.text().unwrap_or("")),
                NodeType::PI => {
                    if let Some(pi) = child.pi() {
                        self.out.push_str("<?");
                        self.out.push_str(pi.target);
                        if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                            self.out.push(' ');
                            self.out.push_str(v);
                        }
                        self.out.push_str("?>");
                    }
                }
                NodeType::Comment | NodeType::Root => {}
            }
        }
        self.out.push_str("</");
        self.out.push_str(&qname);
        self.out.push('>');
    }

    /// The element's name as written (`saml:Assertion`).
    fn element_qname(&self, node: Node<'_, '_>) -> String {
        let start = node.range().start + 1;
        self.input[start..]
            .split(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .next()
            .unwrap_or("")
            .to_owned()
    }

    fn attribute_qname(&self, a: &roxmltree::Attribute<'_, '_>) -> String {
        self.input[a.range_qname()].to_owned()
    }
}

/// The namespace `prefix` (`None`: the default namespace) has at `node`.
fn in_scope(node: Node<'_, '_>, prefix: Option<&str>) -> Option<String> {
    node.namespaces()
        .find(|ns| ns.name() == prefix)
        .map(|ns| ns.uri().to_owned())
        .filter(|uri| prefix.is_some() || !uri.is_empty())
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use roxmltree::Document;

    use super::exclusive;

    /// Expected forms are lxml's (`etree.tostring(e, method="c14n",
    /// exclusive=True, with_comments=False)`, libxml2).
    fn canonical(xml: &str) -> String {
        let doc = Document::parse(xml).expect("xml");
        exclusive(doc.root_element(), None, &[])
    }

    #[test]
    fn unused_namespaces_drop_and_an_undone_default_is_undone() {
        assert_eq!(
            canonical(r#"<a xmlns="urn:a" xmlns:u="urn:unused"><b xmlns=""><c/></b><d attr="1"/></a>"#),
            r#"<a xmlns="urn:a"><b xmlns=""><c></c></b><d attr="1"></d></a>"#
        );
    }

    #[test]
    fn attributes_sort_by_namespace_then_name_and_escape() {
        assert_eq!(
            canonical(
                r#"<p:e xmlns:p="urn:p" xmlns:q="urn:q" z="1" q:b="2" a="3" p:a="4"><p:f q:x="&lt;&amp;&quot;&#9;&#10;&#13;"/></p:e>"#
            ),
            r#"<p:e xmlns:p="urn:p" xmlns:q="urn:q" a="3" z="1" p:a="4" q:b="2"><p:f q:x="&lt;&amp;&quot;&#x9;&#xA;&#xD;"></p:f></p:e>"#
        );
    }

    #[test]
    fn text_escapes_and_processing_instructions_stay_comments_go() {
        assert_eq!(
            canonical("<e>a &amp; b &lt; c &gt; d\r\n\"quoted\" 'single'<?pi  data ?><!-- gone --></e>"),
            "<e>a &amp; b &lt; c &gt; d\n\"quoted\" 'single'<?pi data ?></e>"
        );
    }

    #[test]
    fn a_prefix_redeclared_inside_is_declared_again() {
        assert_eq!(
            canonical(r#"<x:a xmlns:x="urn:1"><x:b xmlns:x="urn:2"><x:c/></x:b><x:d/></x:a>"#),
            r#"<x:a xmlns:x="urn:1"><x:b xmlns:x="urn:2"><x:c></x:c></x:b><x:d></x:d></x:a>"#
        );
    }

    #[test]
    fn a_subtree_declares_what_it_uses_of_its_ancestors_and_the_inclusive_prefixes() {
        let doc = Document::parse(
            r#"<r xmlns="urn:r" xmlns:s="urn:s" xmlns:t="urn:t"><s:child t:attr="v"><inner/></s:child></r>"#,
        )
        .expect("xml");
        let child = doc.root_element().first_element_child().expect("child");
        assert_eq!(
            exclusive(child, None, &[]),
            r#"<s:child xmlns:s="urn:s" xmlns:t="urn:t" t:attr="v"><inner xmlns="urn:r"></inner></s:child>"#
        );
        let doc =
            Document::parse(r#"<r xmlns="urn:r" xmlns:s="urn:s" xmlns:u="urn:u"><s:child><s:inner/></s:child></r>"#)
                .expect("xml");
        let child = doc.root_element().first_element_child().expect("child");
        assert_eq!(
            exclusive(child, None, &["u"]),
            r#"<s:child xmlns:s="urn:s" xmlns:u="urn:u"><s:inner></s:inner></s:child>"#
        );
    }

    #[test]
    fn the_excluded_node_and_its_subtree_are_left_out() {
        let doc = Document::parse(r#"<a><sig><x/></sig><b>t</b></a>"#).expect("xml");
        let sig = doc.root_element().first_element_child().expect("sig");
        assert_eq!(exclusive(doc.root_element(), Some(sig.id()), &[]), "<a><b>t</b></a>");
    }
}
