//! The REST verbs on stored objects: get, list, create, replace, patch (apply, merge, JSON,
//! strategic), delete, delete collection. Writes end in [`State::commit`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::apply::{apply, update_managers};
use crate::errors::ApiError;
use crate::fields::Scope;
use crate::patch::{json_patch, merge_patch, strategic_patch};
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{Entry, ObjKey, State};
use crate::util::{meta_mut, now_rfc3339, random_suffix, str_at};
use crate::write::as_version;

/// One REST call on a resource.
pub(crate) struct Call<'a> {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub query: &'a BTreeMap<String, String>,
    pub content_type: &'a str,
    pub user_agent: &'a str,
}

impl Call<'_> {
    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    /// The field manager of a non-apply write: `fieldManager`, else the user agent's program.
    fn manager(&self) -> String {
        match self.query.get("fieldManager") {
            Some(m) if !m.is_empty() => m.clone(),
            _ => match self.user_agent.split('/').next() {
                Some(p) if !p.is_empty() => p.to_string(),
                _ => "unknown".into(),
            },
        }
    }

    fn key(&self, name: &str) -> ObjKey {
        ObjKey::new(&self.rt.group, &self.rt.kind, self.namespace.as_deref(), name)
    }

    fn scope(&self) -> Result<Scope, ApiError> {
        match self.subresource.as_deref() {
            None => Ok(Scope::Main { status_sub: self.rt.status }),
            Some("status") if self.rt.status => Ok(Scope::Status),
            Some(_) => Err(ApiError::no_resource()),
        }
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").map(String::as_str).unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(self.query.get("fieldSelector").map(String::as_str).unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        Ok((labels, fields))
    }
}

fn body_object(body: Option<Value>) -> Result<Value, ApiError> {
    match body {
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(ApiError::bad_request("the body of the request must be an object")),
        None => Err(ApiError::bad_request("the body of the request was empty")),
    }
}

impl State {
    fn check_type(&self, call: &Call, obj: &Value) -> Result<(), ApiError> {
        let rt = &call.rt;
        let api_version = str_at(obj, "/apiVersion");
        let kind = str_at(obj, "/kind");
        if !kind.is_empty() && kind != rt.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        if !api_version.is_empty() && api_version != rt.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
        Ok(())
    }

    /// Fills and checks `metadata.namespace` against the URL.
    fn check_namespace(&self, call: &Call, obj: &mut Value) -> Result<(), ApiError> {
        let body_ns = str_at(obj, "/metadata/namespace").to_string();
        match (&call.namespace, call.rt.namespaced) {
            (Some(ns), true) => {
                if !body_ns.is_empty() && body_ns != *ns {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                meta_mut(obj).insert("namespace".into(), json!(ns));
            }
            _ => {
                meta_mut(obj).remove("namespace");
            }
        }
        Ok(())
    }

    fn check_name(&self, call: &Call, obj: &Value) -> Result<(), ApiError> {
        let name = str_at(obj, "/metadata/name");
        if !name.is_empty() && name != call.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                call.name()
            )));
        }
        Ok(())
    }

    fn require_namespace(&self, call: &Call, name: &str) -> Result<(), ApiError> {
        let Some(ns) = call.namespace.as_deref().filter(|_| call.rt.namespaced) else { return Ok(()) };
        match self.namespace_phase(ns) {
            None => Err(ApiError::namespace_not_found(ns)),
            Some("Terminating") => Err(ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                call.rt.qualified(),
                name
            ))),
            Some(_) => Ok(()),
        }
    }

    pub fn op_get(&self, call: &Call) -> Result<Value, ApiError> {
        call.scope()?;
        let e = self.objects.get(&call.key(call.name())).ok_or_else(|| ApiError::not_found(&call.rt, call.name()))?;
        Ok(as_version(&call.rt, &e.obj))
    }

    /// Matching objects of the call's type, in key order.
    fn matching(&self, call: &Call) -> Result<Vec<ObjKey>, ApiError> {
        let (labels, fields) = call.selectors()?;
        let start = ObjKey::new(&call.rt.group, &call.rt.kind, call.namespace.as_deref(), "");
        Ok(self
            .objects
            .range(start..)
            .take_while(|(k, _)| {
                k.is(&call.rt.group, &call.rt.kind) && call.namespace.as_ref().is_none_or(|ns| *ns == k.namespace)
            })
            .filter(|(_, e)| labels.matches(&e.obj) && fields.matches(&e.obj))
            .map(|(k, _)| k.clone())
            .collect())
    }

    pub fn op_list(&self, call: &Call) -> Result<Value, ApiError> {
        let items: Vec<Value> =
            self.matching(call)?.iter().map(|k| as_version(&call.rt, &self.objects[k].obj)).collect();
        Ok(json!({
            "kind": call.rt.list_kind,
            "apiVersion": call.rt.api_version(),
            "metadata": {"resourceVersion": self.rv.to_string()},
            "items": items,
        }))
    }

    pub fn op_create(&mut self, call: &Call, body: Option<Value>) -> Result<(u16, Value), ApiError> {
        let mut obj = body_object(body)?;
        self.check_type(call, &obj)?;
        self.check_namespace(call, &mut obj)?;
        let mut name = str_at(&obj, "/metadata/name").to_string();
        if name.is_empty() {
            let prefix = str_at(&obj, "/metadata/generateName").to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &call.rt,
                    "",
                    vec![("metadata.name".into(), "Required value: name or generateName is required".into())],
                ));
            }
            let n = self.next_counter();
            name = format!("{prefix}{}", random_suffix(n, 5));
            meta_mut(&mut obj).insert("name".into(), json!(name));
        }
        if !str_at(&obj, "/metadata/resourceVersion").is_empty() {
            return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
        }
        self.require_namespace(call, &name)?;
        let key = call.key(&name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&call.rt, &name));
        }
        if call.rt.status {
            obj.as_object_mut().expect("object").remove("status");
        }
        let mut managers = Vec::new();
        let scope = Scope::Main { status_sub: call.rt.status };
        update_managers(&call.rt.kind, scope, None, &obj, &mut managers, &call.manager(), &now_rfc3339());
        let (_, v) = self.commit(&call.rt, &key, obj, managers, call.dry_run())?;
        Ok((201, v))
    }

    /// The new object of an Update write in `scope`, from the stored one and the written one.
    fn scoped_update(rt: &ResourceType, scope: Scope, old: &Value, written: Value) -> Value {
        match scope {
            Scope::Status => {
                let mut new = old.clone();
                match written.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        new.as_object_mut().expect("object").remove("status");
                    }
                }
                new
            }
            _ => {
                let mut new = written;
                if rt.status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            new.as_object_mut().expect("object").remove("status");
                        }
                    }
                }
                new
            }
        }
    }

    pub fn op_replace(&mut self, call: &Call, body: Option<Value>) -> Result<(u16, Value), ApiError> {
        let scope = call.scope()?;
        let mut obj = body_object(body)?;
        self.check_type(call, &obj)?;
        self.check_name(call, &obj)?;
        self.check_namespace(call, &mut obj)?;
        let key = call.key(call.name());
        let old = self.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(&call.rt, call.name()))?;
        let rv = str_at(&obj, "/metadata/resourceVersion");
        if !rv.is_empty() && rv != str_at(&old.obj, "/metadata/resourceVersion") {
            return Err(ApiError::modified(&call.rt, call.name()));
        }
        let new = State::scoped_update(&call.rt, scope, &old.obj, obj);
        let mut managers = old.managers.clone();
        update_managers(&call.rt.kind, scope, Some(&old.obj), &new, &mut managers, &call.manager(), &now_rfc3339());
        let (_, v) = self.commit(&call.rt, &key, new, managers, call.dry_run())?;
        Ok((200, v))
    }

    pub fn op_patch(&mut self, call: &Call, body: Option<Value>) -> Result<(u16, Value), ApiError> {
        let scope = call.scope()?;
        let ct = call.content_type.split(';').next().unwrap_or_default().trim();
        if ct == "application/apply-patch+yaml" {
            return self.op_apply(call, scope, body);
        }
        if call.query.contains_key("force") {
            return Err(ApiError::invalid(
                &call.rt,
                call.name(),
                vec![("force".into(), "Forbidden: may not be specified for non-apply patch".into())],
            ));
        }
        let patch = body.ok_or_else(|| ApiError::bad_request("the body of the request was empty"))?;
        let key = call.key(call.name());
        let old = self.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(&call.rt, call.name()))?;
        let mut doc = old.obj.clone();
        meta_mut(&mut doc).remove("managedFields");
        let invalid = |msg: String| ApiError::new(422, "Invalid", msg);
        match ct {
            "application/merge-patch+json" => merge_patch(&mut doc, &patch),
            "application/strategic-merge-patch+json" => {
                strategic_patch(&call.rt.kind, &mut doc, &patch, &mut Vec::new())
            }
            "application/json-patch+json" => json_patch(&mut doc, &patch).map_err(invalid)?,
            other => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
                    ),
                ));
            }
        }
        if !doc.is_object() {
            return Err(invalid("the patch did not produce an object".into()));
        }
        let rv = str_at(&doc, "/metadata/resourceVersion");
        if !rv.is_empty() && rv != str_at(&old.obj, "/metadata/resourceVersion") {
            return Err(ApiError::modified(&call.rt, call.name()));
        }
        let new = State::scoped_update(&call.rt, scope, &old.obj, doc);
        let mut managers = old.managers.clone();
        update_managers(&call.rt.kind, scope, Some(&old.obj), &new, &mut managers, &call.manager(), &now_rfc3339());
        let (_, v) = self.commit(&call.rt, &key, new, managers, call.dry_run())?;
        Ok((200, v))
    }

    fn op_apply(&mut self, call: &Call, scope: Scope, body: Option<Value>) -> Result<(u16, Value), ApiError> {
        let manager = call.query.get("fieldManager").filter(|m| !m.is_empty()).cloned().ok_or_else(|| {
            ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            )
        })?;
        let force = call.query.get("force").is_some_and(|f| f == "true");
        let mut config = body_object(body)?;
        if str_at(&config, "/apiVersion").is_empty() || str_at(&config, "/kind").is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid object type: {}, Kind={}",
                str_at(&config, "/apiVersion"),
                str_at(&config, "/kind")
            )));
        }
        self.check_type(call, &config)?;
        self.check_name(call, &config)?;
        self.check_namespace(call, &mut config)?;
        let key = call.key(call.name());
        let existing = self.objects.get(&key).cloned();
        let (base, managers) = match &existing {
            Some(e) => {
                let rv = str_at(&config, "/metadata/resourceVersion");
                if !rv.is_empty() && rv != str_at(&e.obj, "/metadata/resourceVersion") {
                    return Err(ApiError::modified(&call.rt, call.name()));
                }
                (e.obj.clone(), e.managers.clone())
            }
            None => {
                if scope == Scope::Status {
                    return Err(ApiError::not_found(&call.rt, call.name()));
                }
                self.require_namespace(call, call.name())?;
                let mut skeleton = json!({"apiVersion": call.rt.api_version(), "kind": call.rt.kind, "metadata": {"name": call.name()}});
                if let Some(ns) = call.namespace.as_deref().filter(|_| call.rt.namespaced) {
                    skeleton["metadata"]["namespace"] = json!(ns);
                }
                (skeleton, Vec::new())
            }
        };
        let now = now_rfc3339();
        let applied = apply(&call.rt.kind, scope, &base, &managers, &config, &manager, force, existing.is_some(), &now)
            .map_err(|conflicts| ApiError::apply_conflict(&call.rt, call.name(), &conflicts))?;
        let (created, v) = self.commit(&call.rt, &key, applied.obj, applied.managers, call.dry_run())?;
        Ok((if created { 201 } else { 200 }, v))
    }

    pub fn op_delete(&mut self, call: &Call, body: Option<Value>) -> Result<(u16, Value), ApiError> {
        call.scope()?;
        if call.subresource.is_some() {
            return Err(ApiError::method_not_allowed());
        }
        let key = call.key(call.name());
        let e = self.objects.get(&key).cloned().ok_or_else(|| ApiError::not_found(&call.rt, call.name()))?;
        let opts = body.unwrap_or(Value::Null);
        let pre = |k: &str| opts.pointer(&format!("/preconditions/{k}")).and_then(Value::as_str);
        if pre("uid").is_some_and(|u| u != str_at(&e.obj, "/metadata/uid")) {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    pre("uid").unwrap_or_default(),
                    str_at(&e.obj, "/metadata/uid")
                ),
            ));
        }
        if pre("resourceVersion").is_some_and(|rv| rv != str_at(&e.obj, "/metadata/resourceVersion")) {
            return Err(ApiError::modified(&call.rt, call.name()));
        }
        let policy = call
            .query
            .get("propagationPolicy")
            .cloned()
            .or_else(|| opts.get("propagationPolicy").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "Background".into());
        if !matches!(policy.as_str(), "Background" | "Foreground" | "Orphan") {
            return Err(ApiError::invalid(
                &call.rt,
                call.name(),
                vec![(
                    "propagationPolicy".into(),
                    format!(
                        "Unsupported value: {policy:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                    ),
                )],
            ));
        }
        Ok((200, self.delete_one(call, &key, &e, &policy)))
    }

    fn delete_one(&mut self, call: &Call, key: &ObjKey, e: &Entry, policy: &str) -> Value {
        let mut obj = e.obj.clone();
        let has_finalizers =
            obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if call.dry_run() {
            return as_version(&call.rt, &obj);
        }
        if has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_none() {
                let meta = meta_mut(&mut obj);
                meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
                return self.put(key.clone(), Entry { obj, managers: e.managers.clone() });
            }
            return as_version(&call.rt, &obj);
        }
        let mut gone = self.remove(key).unwrap_or(obj);
        if key.is("", "Namespace") {
            let meta = meta_mut(&mut gone);
            meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
            gone["status"] = json!({"phase": "Terminating"});
        }
        if policy != "Orphan" {
            let uid = str_at(&gone, "/metadata/uid").to_string();
            self.collect_garbage(&uid);
        }
        as_version(&call.rt, &gone)
    }

    pub fn op_delete_collection(&mut self, call: &Call) -> Result<(u16, Value), ApiError> {
        let policy = call.query.get("propagationPolicy").cloned().unwrap_or_else(|| "Background".into());
        let mut items = Vec::new();
        for key in self.matching(call)? {
            if let Some(e) = self.objects.get(&key).cloned() {
                items.push(self.delete_one(call, &key, &e, &policy));
            }
        }
        Ok((
            200,
            json!({"kind": call.rt.list_kind, "apiVersion": call.rt.api_version(), "metadata": {"resourceVersion": self.rv.to_string()}, "items": items}),
        ))
    }
}
