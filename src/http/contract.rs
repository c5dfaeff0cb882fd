//! The served OpenAPI document: the static `openapi.json` beside this file (paths, summaries,
//! tags, parameters) completed with what each area's `contracts` function declares per
//! operation (request body, answers, error statuses, security), and with component schemas
//! derived from the Rust types by `schemars`. Built once, on first use.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

use super::error::ErrorBody;

/// Paths, summaries, tags and parameters; everything else is generated here.
const STATIC_DOCUMENT: &str = include_str!("openapi.json");
/// Where every component schema lives in the document.
const SCHEMAS_PATH: &str = "/components/schemas";

/// The generated document, serialized once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut contracts = Contracts::new();
        super::contracts(&mut contracts);
        let doc = contracts
            .into_document(STATIC_DOCUMENT)
            .unwrap_or_else(|err| panic!("the OpenAPI contracts and openapi.json disagree: {err}"));
        // A tree of JSON values always serializes.
        serde_json::to_string_pretty(&doc).expect("the OpenAPI document serializes")
    })
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy)]
enum Access {
    Public,
    /// A bearer token; the text says which caller (role) the route accepts.
    Bearer(&'static str),
    /// Works without a token; a token changes what is answered.
    OptionalBearer(&'static str),
}

/// One answer an operation gives on success.
#[derive(Debug, Clone)]
enum Answer {
    Json(Schema),
    Empty,
    Media {
        media_type: &'static str,
        what: &'static str,
    },
}

#[derive(Debug)]
struct Operation {
    method: &'static str,
    path: String,
    request: Option<Schema>,
    answers: Vec<(u16, Answer)>,
    access: Access,
    errors: Vec<u16>,
}

/// The registry every area's `contracts` function fills, one entry per (method, path).
pub struct Contracts {
    requests: SchemaGenerator,
    responses: SchemaGenerator,
    operations: Vec<Operation>,
}

/// Declares one operation; see [`Contracts::get`] and its siblings.
pub struct OperationContract<'a> {
    operation: &'a mut Operation,
    requests: &'a mut SchemaGenerator,
    responses: &'a mut SchemaGenerator,
}

fn settings() -> SchemaSettings {
    // OpenAPI 3.1 schemas are JSON Schema 2020-12; refs point into the components.
    SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = SCHEMAS_PATH.into();
        s.meta_schema = None;
    })
}

impl Default for Contracts {
    fn default() -> Self {
        Self::new()
    }
}

impl Contracts {
    pub fn new() -> Self {
        Contracts {
            // Bodies are read with the deserialize contract (an `Option` field may be
            // left out), answers with the serialize one (it is always there, maybe null).
            requests: settings().for_deserialize().into_generator(),
            responses: settings().for_serialize().into_generator(),
            operations: Vec::new(),
        }
    }

    pub fn get(&mut self, path: impl Into<String>) -> OperationContract<'_> {
        self.operation("get", path.into())
    }

    pub fn post(&mut self, path: impl Into<String>) -> OperationContract<'_> {
        self.operation("post", path.into())
    }

    pub fn put(&mut self, path: impl Into<String>) -> OperationContract<'_> {
        self.operation("put", path.into())
    }

    pub fn patch(&mut self, path: impl Into<String>) -> OperationContract<'_> {
        self.operation("patch", path.into())
    }

    pub fn delete(&mut self, path: impl Into<String>) -> OperationContract<'_> {
        self.operation("delete", path.into())
    }

    /// An operation by method name, for routes that answer several methods alike.
    pub fn method(
        &mut self,
        method: &'static str,
        path: impl Into<String>,
    ) -> OperationContract<'_> {
        self.operation(method, path.into())
    }

    fn operation(&mut self, method: &'static str, path: String) -> OperationContract<'_> {
        self.operations.push(Operation {
            method,
            path,
            request: None,
            answers: Vec::new(),
            access: Access::Public,
            errors: Vec::new(),
        });
        let Contracts {
            requests,
            responses,
            operations,
        } = self;
        OperationContract {
            // Pushed just above.
            operation: operations.last_mut().expect("an operation was pushed"),
            requests,
            responses,
        }
    }

    /// Completes the static document with the declared contracts; fails when an operation
    /// is declared but not documented, documented but not declared, or declared twice.
    fn into_document(mut self, static_document: &str) -> Result<Value, String> {
        let mut doc: Value = serde_json::from_str(static_document)
            .map_err(|e| format!("openapi.json is not JSON: {e}"))?;
        let error_ref = self.responses.subschema_for::<ErrorBody>().to_value();
        let mut declared = std::collections::BTreeSet::new();
        for op in &self.operations {
            if !declared.insert((op.path.clone(), op.method)) {
                return Err(format!("{} {} is declared twice", op.method, op.path));
            }
            let target = doc
                .pointer_mut(&format!("/paths/{}/{}", escape(&op.path), op.method))
                .and_then(Value::as_object_mut)
                .ok_or_else(|| {
                    format!(
                        "{} {} is declared but not in openapi.json",
                        op.method, op.path
                    )
                })?;
            render(op, &error_ref, target)?;
        }
        let paths = doc["paths"]
            .as_object()
            .ok_or("openapi.json has no paths")?;
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|o| o.keys()) {
                if !declared.iter().any(|(p, m)| p == path && m == method) {
                    return Err(format!("{method} {path} has no contract"));
                }
            }
        }
        let requests = self.requests.take_definitions(true);
        let responses = self.responses.take_definitions(true);
        let renamed = answer_names(&requests, &responses);
        if !renamed.is_empty() {
            for item in doc["paths"]
                .as_object_mut()
                .into_iter()
                .flat_map(|p| p.values_mut())
            {
                for operation in item
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|o| o.values_mut())
                {
                    rewrite_refs(&mut operation["responses"], &renamed);
                }
            }
        }
        let responses = responses
            .into_iter()
            .map(|(name, mut schema)| {
                rewrite_refs(&mut schema, &renamed);
                (renamed.get(&name).cloned().unwrap_or(name), schema)
            })
            .collect();
        doc["components"]["schemas"] = Value::Object(merge(requests, responses)?);
        Ok(doc)
    }
}

impl OperationContract<'_> {
    /// The JSON body the handler reads.
    pub fn body<T: JsonSchema>(self) -> Self {
        self.operation.request = Some(self.requests.subschema_for::<T>());
        self
    }

    /// A JSON answer with `status`.
    pub fn json<T: JsonSchema>(self, status: u16) -> Self {
        let schema = self.responses.subschema_for::<T>();
        self.operation.answers.push((status, Answer::Json(schema)));
        self
    }

    /// `200 OK` with a JSON body.
    pub fn ok<T: JsonSchema>(self) -> Self {
        self.json::<T>(200)
    }

    /// `201 Created` with a JSON body.
    pub fn created<T: JsonSchema>(self) -> Self {
        self.json::<T>(201)
    }

    /// An answer without a body (204, 202).
    pub fn empty(self, status: u16) -> Self {
        self.operation.answers.push((status, Answer::Empty));
        self
    }

    /// A non-JSON answer (metrics text, HTML, a socket upgrade).
    pub fn media(self, status: u16, media_type: &'static str, what: &'static str) -> Self {
        let answer = Answer::Media { media_type, what };
        self.operation.answers.push((status, answer));
        self
    }

    /// Needs a bearer token; `who` names the callers it accepts ("a member", "admin role").
    pub fn bearer(self, who: &'static str) -> Self {
        self.operation.access = Access::Bearer(who);
        self
    }

    /// Works without a token; `what` says what a token changes.
    pub fn optional_bearer(self, what: &'static str) -> Self {
        self.operation.access = Access::OptionalBearer(what);
        self
    }

    /// Error statuses the operation answers besides those every operation of its kind
    /// can (400/413/415 with a body, 401 with a token, 429 and 5xx anywhere).
    pub fn errors(self, statuses: &[u16]) -> Self {
        self.operation.errors.extend_from_slice(statuses);
        self
    }
}

/// A path as one JSON-pointer token (RFC 6901).
fn escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

fn render(
    op: &Operation,
    error_ref: &Value,
    target: &mut Map<String, Value>,
) -> Result<(), String> {
    if op.answers.is_empty() {
        return Err(format!("{} {} declares no answer", op.method, op.path));
    }
    if let Some(schema) = &op.request {
        target.insert(
            "requestBody".into(),
            json!({
                "required": true,
                "content": { "application/json": { "schema": schema } },
            }),
        );
    }
    let mut responses = BTreeMap::new();
    for (status, answer) in &op.answers {
        let response = match answer {
            Answer::Json(schema) => json!({
                "description": reason(*status),
                "content": { "application/json": { "schema": schema } },
            }),
            Answer::Empty => json!({ "description": reason(*status) }),
            Answer::Media { media_type, what } => json!({
                "description": what,
                "content": { *media_type: {} },
            }),
        };
        responses.insert(status.to_string(), response);
    }
    let mut errors = op.errors.clone();
    if op.request.is_some() {
        errors.extend([400, 413, 415]);
    }
    if matches!(op.access, Access::Bearer(_) | Access::OptionalBearer(_)) {
        errors.push(401);
    }
    for status in errors {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(status, error_ref));
    }
    let mut responses: Map<String, Value> = responses.into_iter().collect();
    responses.insert(
        "default".into(),
        json!({
            "description": "Any other error of the catalogue (429, 5xx)",
            "content": { "application/json": { "schema": error_ref } },
        }),
    );
    target.insert("responses".into(), Value::Object(responses));
    let (security, note) = match op.access {
        Access::Public => (json!([]), None),
        Access::Bearer(who) => (
            json!([{ "bearer": [] }]),
            Some(format!("Bearer token: {who}.")),
        ),
        Access::OptionalBearer(what) => (
            json!([{}, { "bearer": [] }]),
            Some(format!("Bearer token optional: {what}.")),
        ),
    };
    target.insert("security".into(), security);
    if let Some(note) = note {
        target.insert("description".into(), Value::String(note));
    }
    Ok(())
}

fn error_response(status: u16, error_ref: &Value) -> Value {
    json!({
        "description": reason(status),
        "content": { "application/json": { "schema": error_ref } },
    })
}

fn reason(status: u16) -> &'static str {
    actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Answer")
}

/// A type both read and answered may have two shapes: an `Option` field may be left out of
/// a body but is always in an answer. Such answers get their own name, `<Name>Answer`.
fn answer_names(
    requests: &Map<String, Value>,
    responses: &Map<String, Value>,
) -> BTreeMap<String, String> {
    responses
        .iter()
        .filter(|(name, schema)| requests.get(*name).is_some_and(|r| r != *schema))
        .map(|(name, _)| (name.clone(), format!("{name}Answer")))
        .collect()
}

/// Points every `$ref` to a renamed schema at its new name.
fn rewrite_refs(value: &mut Value, renamed: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(new) = target
                    .strip_prefix(&format!("#{SCHEMAS_PATH}/"))
                    .and_then(|name| renamed.get(name))
            {
                *target = format!("#{SCHEMAS_PATH}/{new}");
            }
            map.values_mut().for_each(|v| rewrite_refs(v, renamed));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renamed)),
        _ => {}
    }
}

/// The schemas of both generators in one map; a name both define must mean the same.
pub(crate) fn merge(
    requests: Map<String, Value>,
    responses: Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut all = requests;
    for (name, schema) in responses {
        match all.get(&name) {
            Some(existing) if *existing != schema => {
                return Err(format!(
                    "`{name}` names a request and a response schema of different shapes"
                ));
            }
            _ => {
                all.insert(name, schema);
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_has_a_contract_and_every_contract_a_path() {
        let doc: Value = serde_json::from_str(document()).expect("JSON");
        assert!(
            doc["components"]["schemas"]["ErrorBody"].is_object(),
            "{doc}"
        );
    }

    #[test]
    fn a_type_read_and_answered_in_two_shapes_gets_an_answer_name() {
        let requests: Map<String, Value> =
            serde_json::from_value(json!({ "Thing": { "required": [] } })).expect("map");
        let responses: Map<String, Value> = serde_json::from_value(json!({
            "Thing": { "required": ["note"] },
            "Page": { "items": { "$ref": "#/components/schemas/Thing" } },
        }))
        .expect("map");
        let renamed = answer_names(&requests, &responses);
        assert_eq!(
            renamed.get("Thing").map(String::as_str),
            Some("ThingAnswer")
        );
        assert!(!renamed.contains_key("Page"));
        let mut page = responses["Page"].clone();
        rewrite_refs(&mut page, &renamed);
        assert_eq!(page["items"]["$ref"], "#/components/schemas/ThingAnswer");
    }

    #[test]
    fn refs_point_into_the_components() {
        let text = document();
        for part in text.split("\"$ref\": \"").skip(1) {
            let target = part.split('"').next().expect("a ref");
            assert!(target.starts_with("#/components/schemas/"), "{target}");
        }
    }
}
