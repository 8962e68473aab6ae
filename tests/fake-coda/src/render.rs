//! The JSON shapes the API answers with (Doc, TableReference, Table, Column, Row, User,
//! ApiLink), following the fixtures in `tests/fixtures/coda/`. Links point at the fake's
//! own host, as Coda builds them from the host that was called.

use serde_json::{json, Map, Value};

use crate::config::ColumnFormat;
use crate::model::{stable_id, text_of, Column, Doc, Row, Table};

/// How `listRows` shows cell values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueFormat {
    /// Multi-values joined with commas.
    Simple,
    /// Multi-values as arrays.
    SimpleWithArrays,
    /// Text as Markdown: plain text in triple backticks.
    Rich,
}

impl ValueFormat {
    /// Parses the `valueFormat` parameter.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "simple" => Some(Self::Simple),
            "simpleWithArrays" => Some(Self::SimpleWithArrays),
            "rich" => Some(Self::Rich),
            _ => None,
        }
    }

    /// The parameter spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::SimpleWithArrays => "simpleWithArrays",
            Self::Rich => "rich",
        }
    }
}

/// Builds links for one doc on one host.
pub(crate) struct Links<'a> {
    /// `http://127.0.0.1:PORT`.
    pub origin: &'a str,
    /// The doc ID.
    pub doc_id: &'a str,
}

impl Links<'_> {
    /// `…/apis/v1`.
    pub fn api(&self) -> String {
        format!("{}/apis/v1", self.origin)
    }

    /// `…/apis/v1/docs/{doc}`.
    pub fn doc_href(&self) -> String {
        format!("{}/docs/{}", self.api(), self.doc_id)
    }

    /// The doc's canonical browser link, `…/d/_d{doc}`.
    pub fn doc_browser(&self) -> String {
        format!("{}/d/_d{}", self.origin, self.doc_id)
    }

    fn table_href(&self, table: &Table) -> String {
        format!("{}/tables/{}", self.doc_href(), table.id)
    }

    fn table_browser(&self, table: &Table) -> String {
        let tail = table
            .id
            .split_once('-')
            .map_or(table.id.as_str(), |(_, t)| t);
        format!(
            "{}/#{}_t{tail}",
            self.doc_browser(),
            table.name.replace(' ', "-")
        )
    }
}

/// The workspace the doc is in.
pub(crate) const WORKSPACE_ID: &str = "ws-1Ab234";

/// The folder the doc is in.
pub(crate) const FOLDER_ID: &str = "fl-1Ab234";

/// The one page every table sits on.
pub(crate) fn page_ref(links: &Links) -> Value {
    let id = stable_id("canvas-", &format!("{}/page", links.doc_id));
    let tail = id.trim_start_matches("canvas-").to_owned();
    json!({
        "id": id,
        "type": "page",
        "href": format!("{}/pages/{id}", links.doc_href()),
        "browserLink": format!("{}/Peloton_s{tail}", links.doc_browser()),
        "name": "Peloton",
    })
}

/// `GET /docs/{docId}`.
pub(crate) fn doc(links: &Links, doc: &Doc, at: &str) -> Value {
    let rows: usize = doc.tables.iter().map(|t| t.rows.len()).sum();
    json!({
        "id": doc.id,
        "type": "doc",
        "href": links.doc_href(),
        "browserLink": links.doc_browser(),
        "name": doc.name,
        "owner": "user@example.com",
        "ownerName": "Test User",
        "docSize": {
            "totalRowCount": rows,
            "tableAndViewCount": doc.tables.len(),
            "pageCount": 1,
            "overApiSizeLimit": false,
        },
        "createdAt": doc.tables.first().map_or(at, |t| t.created_at.as_str()),
        "updatedAt": at,
        "folder": {
            "id": FOLDER_ID,
            "type": "folder",
            "browserLink": format!("{}/folders/{FOLDER_ID}", links.origin),
            "name": "My docs",
        },
        "workspace": workspace(links),
        "workspaceId": WORKSPACE_ID,
        "folderId": FOLDER_ID,
    })
}

fn workspace(links: &Links) -> Value {
    json!({
        "id": WORKSPACE_ID,
        "type": "workspace",
        "organizationId": "org-2Bc456",
        "browserLink": format!("{}/docs?workspaceId={WORKSPACE_ID}", links.origin),
        "name": "My workspace",
    })
}

/// `GET /whoami`.
pub(crate) fn whoami(links: &Links) -> Value {
    json!({
        "name": "Test User",
        "loginId": "user@example.com",
        "type": "user",
        "pictureLink": "https://cdn.coda.io/avatars/default_avatar.png",
        "scoped": false,
        "tokenName": "Peloton Coda Sync",
        "href": format!("{}/whoami", links.api()),
        "workspace": workspace(links),
    })
}

/// `GET /resolveBrowserLink` for a doc link.
pub(crate) fn resolved_doc(links: &Links, doc: &Doc, self_href: &str) -> Value {
    json!({
        "type": "apiLink",
        "href": self_href,
        "browserLink": links.doc_browser(),
        "resource": {
            "type": "doc",
            "id": doc.id,
            "name": doc.name,
            "href": links.doc_href(),
        },
    })
}

/// A `TableReference`.
pub(crate) fn table_ref(links: &Links, table: &Table) -> Value {
    json!({
        "id": table.id,
        "type": "table",
        "tableType": if table.view { "view" } else { "table" },
        "href": links.table_href(table),
        "browserLink": links.table_browser(table),
        "name": table.name,
        "parent": page_ref(links),
    })
}

/// A `Table` (`GET …/tables/{t}`).
pub(crate) fn table(links: &Links, table: &Table) -> Value {
    let mut v = table_ref(links, table);
    let Value::Object(m) = &mut v else { return v };
    let display = table.display_column().map(|c| column_ref(links, table, c));
    m.insert("displayColumn".into(), display.unwrap_or(Value::Null));
    m.insert("rowCount".into(), json!(table.rows.len()));
    m.insert("sorts".into(), json!([]));
    m.insert("layout".into(), json!("default"));
    m.insert("createdAt".into(), json!(table.created_at));
    m.insert("updatedAt".into(), json!(table.updated_at));
    v
}

fn column_ref(links: &Links, table: &Table, column: &Column) -> Value {
    json!({
        "id": column.id,
        "type": "column",
        "href": format!("{}/columns/{}", links.table_href(table), column.id),
    })
}

/// A `Column`.
pub(crate) fn column(links: &Links, table: &Table, column: &Column) -> Value {
    let mut v = column_ref(links, table, column);
    let Value::Object(m) = &mut v else { return v };
    m.insert("name".into(), json!(column.name));
    if table.display_column().is_some_and(|d| d.id == column.id) {
        m.insert("display".into(), json!(true));
    }
    m.insert("calculated".into(), json!(column.calculated()));
    if let Some(formula) = &column.formula {
        m.insert("formula".into(), json!(formula));
    }
    m.insert("format".into(), format(&column.format));
    v
}

fn format(format: &ColumnFormat) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(format.type_name()));
    m.insert("isArray".into(), json!(false));
    let extra = match format {
        ColumnFormat::Number => json!({"precision": 1, "useThousandsSeparator": false}),
        ColumnFormat::Date => json!({"format": "YYYY-MM-DD"}),
        ColumnFormat::DateTime => json!({"dateFormat": "YYYY-MM-DD", "timeFormat": "h:mm:ss A"}),
        ColumnFormat::Checkbox => json!({"displayType": "check"}),
        ColumnFormat::Duration => json!({"precision": 2, "maxUnit": "hours"}),
        ColumnFormat::Select => json!({"options": []}),
        ColumnFormat::Text | ColumnFormat::Other(_) => json!({}),
    };
    if let Value::Object(extra) = extra {
        m.extend(extra);
    }
    Value::Object(m)
}

/// How to show a row's values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowView {
    /// Key values by column name instead of ID.
    pub use_column_names: bool,
    /// Value format.
    pub value_format: ValueFormat,
}

/// A `Row`; `index` is its position in the table.
pub(crate) fn row(links: &Links, table: &Table, row: &Row, index: usize, view: RowView) -> Value {
    let mut values = Map::new();
    for c in &table.columns {
        let key = if view.use_column_names {
            c.name.clone()
        } else {
            c.id.clone()
        };
        values.insert(key, show(table.value(row, &c.id), view.value_format));
    }
    json!({
        "id": row.id,
        "type": "row",
        "href": format!("{}/rows/{}", links.table_href(table), row.id),
        "name": table.row_name(row),
        "index": index,
        "browserLink": format!("{}/_ru{}", links.table_browser(table), row.id),
        "createdAt": row.created.at,
        "updatedAt": row.updated.at,
        "values": values,
    })
}

/// A `RowDetail`: a row with its `parent` table.
pub(crate) fn row_detail(links: &Links, t: &Table, r: &Row, index: usize, view: RowView) -> Value {
    let mut v = row(links, t, r, index, view);
    if let Value::Object(m) = &mut v {
        m.insert("parent".into(), table_ref(links, t));
    }
    v
}

fn show(value: Value, format: ValueFormat) -> Value {
    match (format, value) {
        (ValueFormat::Simple, v @ Value::Array(_)) => Value::String(text_of(&v)),
        (ValueFormat::Rich, Value::String(s)) if !s.is_empty() => {
            Value::String(format!("```{s}```"))
        }
        (_, v) => v,
    }
}
