//! Argo CD-style Lua health scripts, run in a sandbox.
//!
//! The contract is Argo CD's (`resource.customizations.health.<group>_<kind>`): the script sees
//! the live object as the global `obj` (a table; JSON `null` is `nil`) and returns a table `hs`
//! with `hs.status` (`Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`)
//! and `hs.message`. A script that fails, returns something else, or runs out of its budget is
//! that object's error ([`super::RuleError`]).
//!
//! Sandbox: a fresh Lua 5.4 state per evaluation (so no state leaks between objects) with only
//! the base library's safe functions and `string`, `table`, `math`; no `io`, `debug`, `package`,
//! `load`/`loadstring`/`dofile`/`loadfile`, `collectgarbage` or `string.dump`. As in Argo CD, `os`
//! offers only `time`, `date` and `clock`, and `require` returns only those built-in libraries
//! (`local os = require("os")` works, loading any other module fails). `print` does nothing.
//! Memory is capped at [`MEMORY_LIMIT`] and time at [`TIME_LIMIT`] (checked every
//! [`HOOK_INSTRUCTIONS`] VM instructions); once the time is up every further instruction fails,
//! so a `pcall` cannot swallow the stop.

use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Value as LuaValue, VmState};
use serde_json::Value;

use crate::health::{Health, HealthStatus};

/// The most memory one evaluation may allocate, the object's own table included.
pub const MEMORY_LIMIT: usize = 64 << 20;
/// The longest one evaluation may run (Argo CD allows one second; a wave polls often).
pub const TIME_LIMIT: Duration = Duration::from_millis(200);
/// How many VM instructions run between two checks of the clock.
pub const HOOK_INSTRUCTIONS: u32 = 1000;

/// Globals of the base library a health script has no business with: loading code, touching
/// files, steering the collector.
const REMOVED_GLOBALS: &[&str] = &["dofile", "loadfile", "load", "loadstring", "collectgarbage", "require", "module"];

/// A Lua health script, checked to compile when the rules were loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LuaRule {
    /// `=file` so Lua's messages start with the file name.
    chunk_name: String,
    /// The script, preceded by as many newlines as needed for Lua's line numbers to be the
    /// file's.
    source: String,
}

impl LuaRule {
    /// Compiles `script` (its first line being line `first_line` of `file`) without running it.
    /// The error names the file and line (`apps-of-apps/health.yaml:14: '=' expected near 'x'`).
    pub(crate) fn load(file: &str, first_line: usize, script: &str) -> Result<LuaRule, String> {
        let rule = LuaRule {
            chunk_name: format!("={file}"),
            source: format!("{}{script}", "\n".repeat(first_line.saturating_sub(1))),
        };
        let lua = sandbox().map_err(|e| e.to_string())?;
        lua.load(&rule.source).set_name(&rule.chunk_name).into_function().map_err(|e| lua_message(&e))?;
        Ok(rule)
    }

    /// Runs the script on `obj`.
    pub(crate) fn judge(&self, obj: &Value) -> Result<Health, String> {
        let lua = sandbox().map_err(|e| e.to_string())?;
        let run = || -> mlua::Result<LuaValue> {
            let table = to_lua(&lua, obj)?;
            lua.globals().set("obj", table)?;
            let started = Instant::now();
            lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS), move |lua, _| {
                if started.elapsed() <= TIME_LIMIT {
                    return Ok(VmState::Continue);
                }
                // From now on every instruction fails: an error caught by pcall is raised again
                // at the next instruction outside it.
                lua.set_hook(HookTriggers::new().every_nth_instruction(1), |_, _| Err(time_up()))?;
                Err(time_up())
            })?;
            lua.load(&self.source).set_name(&self.chunk_name).eval()
        };
        let returned = run().map_err(|e| lua_message(&e))?;
        let table = match returned {
            LuaValue::Table(t) => t,
            other => return Err(format!("the script must return a table (hs), it returned {}", other.type_name())),
        };
        let status: LuaValue = table.get("status").map_err(|e| lua_message(&e))?;
        let message: LuaValue = table.get("message").map_err(|e| lua_message(&e))?;
        let message = match message {
            LuaValue::Nil => String::new(),
            LuaValue::String(s) => s.to_string_lossy(),
            LuaValue::Integer(n) => n.to_string(),
            LuaValue::Number(n) => n.to_string(),
            other => return Err(format!("hs.message must be a string, it is a {}", other.type_name())),
        };
        let status = match &status {
            LuaValue::String(s) => s.to_string_lossy(),
            LuaValue::Nil => return Err("the script returned no hs.status".into()),
            other => return Err(format!("hs.status must be a string, it is a {}", other.type_name())),
        };
        let (status, message) = match status.as_str() {
            "Healthy" => (HealthStatus::Healthy, message),
            "Progressing" => (HealthStatus::Progressing, message),
            "Degraded" => (HealthStatus::Degraded, message),
            "Suspended" => (HealthStatus::Suspended, message),
            // tidegate has no Unknown or Missing: both mean "not healthy yet, wait".
            "Missing" | "Unknown" => (HealthStatus::Progressing, prefixed(&status, &message)),
            other => {
                return Err(format!(
                    "hs.status {other:?} is not one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown"
                ));
            }
        };
        Ok(Health { status, message })
    }
}

fn prefixed(status: &str, message: &str) -> String {
    if message.is_empty() { format!("the rule says {status}") } else { format!("the rule says {status}: {message}") }
}

fn time_up() -> mlua::Error {
    mlua::Error::runtime(format!("stopped: the script ran longer than {} ms", TIME_LIMIT.as_millis()))
}

/// A fresh sandboxed state.
fn sandbox() -> mlua::Result<Lua> {
    let lua = Lua::new_with(StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::OS, LuaOptions::default())?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let globals = lua.globals();
    for name in REMOVED_GLOBALS {
        globals.raw_remove(*name)?;
    }
    globals.raw_set("print", lua.create_function(|_, _: mlua::MultiValue| Ok(()))?)?;
    // Argo CD's safe os: the clock, nothing that touches the process or the files.
    let os: mlua::Table = globals.get("os")?;
    let safe_os = lua.create_table()?;
    for name in ["time", "date", "clock"] {
        safe_os.raw_set(name, os.get::<LuaValue>(name)?)?;
    }
    globals.raw_set("os", safe_os)?;
    let string: mlua::Table = globals.get("string")?;
    string.raw_remove("dump")?;
    // Lua 5.1 (Argo CD's gopher-lua) had a global unpack.
    let table: mlua::Table = globals.get("table")?;
    globals.raw_set("unpack", table.get::<LuaValue>("unpack")?)?;
    globals.raw_set(
        "require",
        lua.create_function(|lua, name: String| match name.as_str() {
            "os" | "string" | "table" | "math" => lua.globals().get::<LuaValue>(name),
            _ => {
                Err(mlua::Error::runtime(format!("module {name:?} is not available: health rules cannot load modules")))
            }
        })?,
    )?;
    Ok(lua)
}

/// The object as Lua sees it in Argo CD: tables for objects and arrays (arrays 1-based),
/// `nil` for JSON null.
fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<LuaValue> {
    Ok(match v {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => LuaValue::Integer(i),
            None => LuaValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            LuaValue::Table(t)
        }
        Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua(lua, item)?)?;
            }
            LuaValue::Table(t)
        }
    })
}

/// Lua's own message, without mlua's wrapping and stack traceback.
fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.split("\nstack traceback:").next().unwrap_or_default().to_string(),
        mlua::Error::MemoryError(_) => format!("stopped: the script used more than {} MiB", MEMORY_LIMIT >> 20),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        mlua::Error::WithContext { cause, .. } => lua_message(cause),
        other => other.to_string().lines().next().unwrap_or_default().to_string(),
    }
}
