//! Turning what the user pasted (a doc URL or a bare doc ID) into a doc ID
//! that Coda has confirmed (`coda-api.md` §2).
//!
//! The local parse follows Coda's own "Doc ID Extractor": the first `_d`
//! marker, but only inside the path segment after `/d/`, because page and
//! table parts further on may contain `_d` too. Anything it cannot read, and
//! any ID Coda does not know, goes to `GET /resolveBrowserLink`.

use serde::Deserialize;

use super::client::{Answer, Call, CodaClient, DocInfo};
use super::error::CodaError;

/// The doc ID in `input`: a bare ID, or a URL whose path has a `/d/` segment
/// followed by `<Name>_d<ID>` (the name may be empty). Any host is accepted.
/// `None` when no ID can be read without asking Coda.
pub fn parse_doc_id(input: &str) -> Option<String> {
    let input = input.trim();
    if is_id(input) {
        return Some(input.to_string());
    }
    // Host (if any) first: only the path may hold `/d/`.
    let rest = match input.find("://") {
        Some(i) => &input[i + 3..],
        None => input,
    };
    let path_start = rest.find('/')?;
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    if path_end < path_start {
        return None; // `?` or `#` before any path: nothing to read.
    }
    let path = &rest[path_start..path_end];
    let mut segments = path.split('/');
    segments.find(|s| *s == "d")?;
    let doc_segment = segments.next()?;
    let marker = doc_segment.find("_d")?;
    let id = &doc_segment[marker + 2..];
    is_id(id).then(|| id.to_string())
}

/// Doc IDs are letters, digits, `-` and `_` (`AbCDeFGH`, `6vqpBu-VYd`).
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `GET /resolveBrowserLink` answer; only the resource matters.
#[derive(Debug, Deserialize)]
struct ApiLink {
    resource: LinkedResource,
}

#[derive(Debug, Deserialize)]
struct LinkedResource {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    href: String,
}

/// The doc a resolved link points into: the resource itself for a doc, else
/// the path segment after `/docs/` in its API `href`.
fn doc_id_of(resource: &LinkedResource) -> Option<String> {
    if resource.kind == "doc" && is_id(&resource.id) {
        return Some(resource.id.clone());
    }
    let after = resource.href.split("/docs/").nth(1)?;
    let id = after.split(['/', '?', '#']).next()?;
    is_id(id).then(|| id.to_string())
}

/// `GET /docs/{docId}` answer.
#[derive(Debug, Deserialize)]
struct DocBody {
    id: String,
    #[serde(default)]
    name: String,
}

impl CodaClient {
    /// Finds the doc the user means and confirms it with Coda.
    ///
    /// Parses locally first (no request) and confirms with `GET /docs/{id}`;
    /// when the parse fails or that doc is not found, asks
    /// `GET /resolveBrowserLink` (only for URLs: a bare ID has nothing more
    /// to resolve) and confirms the answer the same way.
    pub async fn resolve_doc(&self, input: &str) -> Result<DocInfo, CodaError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(CodaError::InvalidDocRef(String::new()));
        }
        let not_found = || CodaError::DocNotFound {
            doc: input.to_string(),
        };
        if let Some(id) = parse_doc_id(input) {
            if let Some(doc) = self.get_doc(&id).await? {
                return Ok(doc);
            }
            if is_id(input) {
                return Err(not_found());
            }
        }
        let looks_like_url = input.contains('/') || input.contains('.');
        if !looks_like_url {
            return Err(CodaError::InvalidDocRef(input.to_string()));
        }
        let answer = self
            .call_json::<ApiLink>(
                Call::get("GET /resolveBrowserLink", &["resolveBrowserLink"])
                    .query(&[("url", input)]),
            )
            .await;
        let link = match answer {
            Ok(Answer::Found(link)) => link,
            Ok(Answer::NotFound) => return Err(not_found()),
            // 400 means "not a Coda URL" [spec].
            Err(CodaError::BadRequest { status: 400, .. }) => {
                return Err(CodaError::InvalidDocRef(input.to_string()))
            }
            Err(e) => return Err(e),
        };
        let id = doc_id_of(&link.resource).ok_or_else(not_found)?;
        self.get_doc(&id).await?.ok_or_else(not_found)
    }

    /// `GET /docs/{docId}`; `None` on 404.
    async fn get_doc(&self, id: &str) -> Result<Option<DocInfo>, CodaError> {
        let segments = ["docs", id];
        let call = Call::get("GET /docs/{docId}", &segments).doc(id);
        match self.call_json::<DocBody>(call).await? {
            Answer::Found(d) => Ok(Some(DocInfo {
                id: d.id,
                name: d.name,
            })),
            Answer::NotFound => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Option<&str>) {
        assert_eq!(
            parse_doc_id(input).as_deref(),
            expect,
            "parse_doc_id({input:?})"
        );
    }

    #[test]
    fn bare_ids_are_taken_as_they_are() {
        check("AbCDeFGH", Some("AbCDeFGH"));
        check("  6vqpBu-VYd \n", Some("6vqpBu-VYd"));
        check("Ab_dCD", Some("Ab_dCD"));
        check("", None);
        check("not an id", None);
    }

    #[test]
    fn urls_give_the_id_after_the_first_d_marker() {
        check(
            "https://coda.io/d/Product-Launch-Hub_dAbCDeFGH",
            Some("AbCDeFGH"),
        );
        check("https://coda.io/d/_dAbCDeFGH", Some("AbCDeFGH"));
        check(
            "https://docs.superhuman.com/d/My-Doc_d6vqpBu-VYd",
            Some("6vqpBu-VYd"),
        );
        check(
            "http://127.0.0.1:43111/d/Peloton_dAbCDeFGH",
            Some("AbCDeFGH"),
        );
        check("coda.io/d/Peloton_dAbCDeFGH", Some("AbCDeFGH"));
        check("https://coda.io/d/Peloton_dAbCDeFGH/", Some("AbCDeFGH"));
    }

    #[test]
    fn ids_may_hold_underscores_and_hyphens() {
        check("https://coda.io/d/Doc_dAb_c-D_dE", Some("Ab_c-D_dE"));
    }

    #[test]
    fn page_table_and_query_parts_are_not_read() {
        check(
            "https://coda.io/d/Doc_dAbCDeFGH/Launch-Status_sumnO",
            Some("AbCDeFGH"),
        );
        check(
            "https://coda.io/d/Doc_dAbCDeFGH/Page_dXYZ",
            Some("AbCDeFGH"),
        );
        check(
            "https://coda.io/d/_dAbCDeFGH#Teams-and-Tasks_tpqRst-U/_rui-tuVwxYz",
            Some("AbCDeFGH"),
        );
        check(
            "https://coda.io/d/Doc_dAbCDeFGH?utm_dsource=x",
            Some("AbCDeFGH"),
        );
        check(
            "https://coda.io/d/Doc_dAbCDeFGH/#Table_dQQ",
            Some("AbCDeFGH"),
        );
    }

    #[test]
    fn only_the_segment_after_d_counts() {
        // `_d` in the host or in other segments is not a doc marker.
        check("https://my_docs.example.com/x/Page_dAbC", None);
        check("https://coda.io/login?next=/d/Doc_dAbC", None);
        check("https://coda.io/d/NoMarkerHere", None);
        check("https://coda.io/d/Doc_d", None);
        check("https://coda.io/d/", None);
        check("https://coda.io/docs/AbCDeFGH", None);
        // A custom domain may put the `/d/` segment deeper.
        check(
            "https://wiki.example.com/team/d/Doc_dAbCDeFGH",
            Some("AbCDeFGH"),
        );
    }

    #[test]
    fn resolved_links_give_their_doc() {
        let doc = LinkedResource {
            kind: "doc".into(),
            id: "AbCDeFGH".into(),
            href: "https://coda.io/apis/v1/docs/AbCDeFGH".into(),
        };
        assert_eq!(doc_id_of(&doc).as_deref(), Some("AbCDeFGH"));
        let page = LinkedResource {
            kind: "page".into(),
            id: "canvas-IjkLmnO".into(),
            href: "https://coda.io/apis/v1/docs/AbCDeFGH/pages/canvas-IjkLmnO".into(),
        };
        assert_eq!(doc_id_of(&page).as_deref(), Some("AbCDeFGH"));
        let odd = LinkedResource {
            kind: "page".into(),
            id: "x".into(),
            href: "https://coda.io/apis/v1/whoami".into(),
        };
        assert_eq!(doc_id_of(&odd), None);
    }
}
