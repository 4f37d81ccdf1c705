//! The labels of one call, read as an Unleash context: the fields rules name
//! (`userId`, `sessionId`, ...) found among the labels, in either spelling, and the
//! fields a source fills in when the labels do not (`appName`, `environment`).
//!
//! A context borrows the labels: reading a field is a short scan, one compare per
//! label, of names whose fingerprints were made when the rules were compiled
//! (`labels/name.rs`).

use crate::labels::{LabelName, Labels, Lookup};

/// A context field, as constraints and stickiness name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    UserId,
    SessionId,
    RemoteAddress,
    Environment,
    AppName,
    CurrentTime,
    Property(LabelName),
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
            other => Field::Property(LabelName::new(other)),
        }
    }

    /// The label's name, camelCase for the fields Unleash names.
    pub(crate) fn name(&self) -> &str {
        match self {
            Field::UserId => "userId",
            Field::SessionId => "sessionId",
            Field::RemoteAddress => "remoteAddress",
            Field::Environment => "environment",
            Field::AppName => "appName",
            Field::CurrentTime => "currentTime",
            Field::Property(name) => name.as_str(),
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

/// The names each field is looked for under, camelCase first.
const USER_ID: [Lookup<'static>; 2] = [Lookup::new("userId"), Lookup::new("user_id")];
const SESSION_ID: [Lookup<'static>; 2] = [Lookup::new("sessionId"), Lookup::new("session_id")];
const REMOTE_ADDRESS: [Lookup<'static>; 2] =
    [Lookup::new("remoteAddress"), Lookup::new("remote_address")];
const ENVIRONMENT: Lookup<'static> = Lookup::new("environment");
const APP_NAME: [Lookup<'static>; 2] = [Lookup::new("appName"), Lookup::new("app_name")];
const CURRENT_TIME: [Lookup<'static>; 2] =
    [Lookup::new("currentTime"), Lookup::new("current_time")];

/// The labels of one call, read as an Unleash context.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    labels: &'a Labels<'a>,
    defaults: &'a ContextDefaults,
}

impl<'a> Context<'a> {
    pub(crate) fn new(labels: &'a Labels<'a>, defaults: &'a ContextDefaults) -> Self {
        Self { labels, defaults }
    }

    #[inline]
    fn label(&self, names: [Lookup<'_>; 2]) -> Option<&'a str> {
        self.labels.find_either(names).filter(|v| !v.is_empty())
    }

    /// Always inlined, as `Operator::matches` is (see there).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn get(&self, field: &Field) -> Option<&'a str> {
        match field {
            Field::UserId => self.label(USER_ID),
            Field::SessionId => self.label(SESSION_ID),
            Field::RemoteAddress => self.label(REMOTE_ADDRESS),
            Field::Environment => self
                .labels
                .find(ENVIRONMENT)
                .or(self.defaults.environment.as_deref()),
            Field::AppName => self.label(APP_NAME).or(self.defaults.app_name.as_deref()),
            Field::CurrentTime => self.label(CURRENT_TIME),
            Field::Property(name) => self.labels.find(name.lookup()),
        }
    }
}
