//! A small client of Unleash's Admin API, for `diff`, `push`, `pull` and `stale`: the
//! features of one project, one feature's environments and strategies, and the calls
//! that create, change and toggle them. Its token comes from `UNLEASH_ADMIN_TOKEN` and
//! never appears in output or errors (`Debug` included).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

pub(crate) struct Admin {
    base: String,
    project: String,
    token: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("base", &self.base)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// A client of the server at `url` (its root, or its `/api`), for `project`.
    pub(crate) fn new(url: &str, project: &str) -> Result<Self, String> {
        let token = std::env::var("UNLEASH_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or("this command needs an admin token in UNLEASH_ADMIN_TOKEN")?;
        let base = url
            .trim_end_matches('/')
            .trim_end_matches("/api/admin")
            .trim_end_matches("/api")
            .to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--unleash {}: give the server's URL, starting with http:// or https://",
                redacted(&base)
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base,
            project: project.to_owned(),
            token,
            http,
            runtime,
        })
    }

    /// The names of the project's features (archived ones excluded), sorted.
    pub(crate) fn feature_names(&self) -> Result<Vec<String>, String> {
        let list = self.get(&format!("/projects/{}/features", self.project))?;
        let mut names: Vec<String> = list["features"]
            .as_array()
            .map(|features| {
                features
                    .iter()
                    .filter(|f| !f["archived"].as_bool().unwrap_or(false))
                    .filter_map(|f| f["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// When a client last evaluated each of the project's features, by name (`None`:
    /// never), as Unleash's own last-seen data says.
    pub(crate) fn last_seen(&self) -> Result<Vec<(String, Option<String>)>, String> {
        let list = self.get(&format!("/projects/{}/features", self.project))?;
        Ok(list["features"]
            .as_array()
            .map(|features| {
                features
                    .iter()
                    .filter_map(|f| {
                        let name = f["name"].as_str()?.to_owned();
                        let seen = f["lastSeenAt"].as_str().map(str::to_owned);
                        Some((name, seen))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Fails, naming what exists, unless the project and `environment` exist: a dry
    /// run must not promise changes to a place that is not there.
    pub(crate) fn check_place(&self, environment: &str) -> Result<(), String> {
        let projects = self.get("/projects")?;
        let names: Vec<&str> = projects["projects"]
            .as_array()
            .map(|p| p.iter().filter_map(|p| p["id"].as_str()).collect())
            .unwrap_or_default();
        if !names.contains(&self.project.as_str()) {
            return Err(format!(
                "no project `{}` on the server (it has: {})",
                self.project,
                names.join(", ")
            ));
        }
        let environments = self.get("/environments")?;
        let names: Vec<&str> = environments["environments"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["name"].as_str()).collect())
            .unwrap_or_default();
        if !names.contains(&environment) {
            return Err(format!(
                "no environment `{environment}` on the server (it has: {})",
                names.join(", ")
            ));
        }
        Ok(())
    }

    /// Archives `name`, then deletes it from the archive: for a flag `push` made
    /// half-way.
    pub(crate) fn remove(&self, name: &str) -> Result<(), String> {
        self.send(
            reqwest::Method::DELETE,
            &format!("/projects/{}/features/{name}", self.project),
            None,
        )?;
        self.send(reqwest::Method::DELETE, &format!("/archive/{name}"), None)
            .map(drop)
    }

    /// One feature, with its environments and their strategies.
    pub(crate) fn feature(&self, name: &str) -> Result<Value, String> {
        self.get(&format!("/projects/{}/features/{name}", self.project))
    }

    /// `environment` of a feature's JSON (`None`: the feature has no such environment).
    pub(crate) fn environment<'a>(feature: &'a Value, environment: &str) -> Option<&'a Value> {
        feature["environments"]
            .as_array()?
            .iter()
            .find(|e| e["name"].as_str() == Some(environment))
    }

    pub(crate) fn create(&self, name: &str, description: Option<&str>) -> Result<(), String> {
        let body = serde_json::json!({
            "name": name,
            "type": "release",
            "description": description.unwrap_or(""),
        });
        self.send(
            reqwest::Method::POST,
            &format!("/projects/{}/features", self.project),
            Some(body),
        )
        .map(drop)
    }

    pub(crate) fn add_strategy(
        &self,
        name: &str,
        environment: &str,
        strategy: Value,
    ) -> Result<(), String> {
        self.send(
            reqwest::Method::POST,
            &format!(
                "/projects/{}/features/{name}/environments/{environment}/strategies",
                self.project
            ),
            Some(strategy),
        )
        .map(drop)
    }

    pub(crate) fn replace_strategy(
        &self,
        name: &str,
        environment: &str,
        id: &str,
        strategy: Value,
    ) -> Result<(), String> {
        self.send(
            reqwest::Method::PUT,
            &format!(
                "/projects/{}/features/{name}/environments/{environment}/strategies/{id}",
                self.project
            ),
            Some(strategy),
        )
        .map(drop)
    }

    pub(crate) fn toggle(&self, name: &str, environment: &str, on: bool) -> Result<(), String> {
        let state = if on { "on" } else { "off" };
        self.send(
            reqwest::Method::POST,
            &format!(
                "/projects/{}/features/{name}/environments/{environment}/{state}",
                self.project
            ),
            None,
        )
        .map(drop)
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        self.send(reqwest::Method::GET, path, None)
    }

    #[allow(clippy::needless_pass_by_value)] // Calls read better with the method by value.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/api/admin{path}", self.base);
        let shown = redacted(&url);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("authorization", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .map_err(|e| format!("{method} {shown}: {}", without_url(&e)))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| format!("{method} {shown}: {e}"))?;
            if !status.is_success() {
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v["details"][0]["message"]
                            .as_str()
                            .or(v["message"].as_str())
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| text.chars().take(300).collect());
                return Err(format!("{method} {shown}: {status}: {message}"));
            }
            if text.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(&text).map_err(|e| {
                format!("{method} {shown}: not JSON ({e}): is this an Unleash server?")
            })
        })
    }
}

/// `url` without a password it may carry (`http://user:secret@host`).
pub(crate) fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string().trim_end_matches('/').to_owned()
        }
        _ => url.to_owned(),
    }
}

/// A reqwest error's text without the URL it repeats (the caller names it).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    if error.is_connect() {
        text.push_str(" (is the server up, and the URL its root?)");
    }
    text
}
