//! The labels of one call, read as an Unleash context: the fields rules name
//! (`userId`, `sessionId`, ...) found among the labels, in either spelling, and the
//! fields a source fills in when the labels do not (`appName`, `environment`).
//!
//! A context borrows the labels: reading a field is a short scan, no copy.

use crate::labels::Labels;

/// A context field, as constraints and stickiness name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    UserId,
    SessionId,
    RemoteAddress,
    Environment,
    AppName,
    CurrentTime,
    Property(Box<str>),
}

impl Field {
    pub(crate) fn parse(name: &str) -> Self {
        match name {
            "userId" | "user_id" => Field::UserId,
            "sessionId" | "session_id" => Field::SessionId,
            "remoteAddress" | "remote_address" => Field::RemoteAddress,
            "environment" => Field::Environment,
            "appName" | "app_name" => Field::AppName,
            "currentTime" | "current_time" => Field::CurrentTime,
            other => Field::Property(other.into()),
        }
    }
}

/// Context fields a source fills in when a call's labels do not (an Unleash client's
/// `appName` and `environment`).
#[derive(Debug, Default, Clone)]
pub(crate) struct ContextDefaults {
    pub(crate) app_name: Option<Box<str>>,
    pub(crate) environment: Option<Box<str>>,
}

/// The labels of one call, read as an Unleash context.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    labels: &'a Labels,
    defaults: &'a ContextDefaults,
}

impl<'a> Context<'a> {
    pub(crate) fn new(labels: &'a Labels, defaults: &'a ContextDefaults) -> Self {
        Self { labels, defaults }
    }

    fn label(&self, camel: &str, snake: &str) -> Option<&'a str> {
        self.labels
            .get(camel)
            .or_else(|| self.labels.get(snake))
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn get(&self, field: &Field) -> Option<&'a str> {
        match field {
            Field::UserId => self.label("userId", "user_id"),
            Field::SessionId => self.label("sessionId", "session_id"),
            Field::RemoteAddress => self.label("remoteAddress", "remote_address"),
            Field::Environment => self
                .labels
                .get("environment")
                .or(self.defaults.environment.as_deref()),
            Field::AppName => self
                .label("appName", "app_name")
                .or(self.defaults.app_name.as_deref()),
            Field::CurrentTime => self.label("currentTime", "current_time"),
            Field::Property(name) => self.labels.get(name),
        }
    }
}
