//! Every case both benchmarks run, by name, so that the timings (`compare`) and the
//! instruction counts (`instructions`) measure the very same code.
//!
//! A case is a closure called with the call's number: it builds what it needs per
//! call (labels, contexts) as a service would, and returns nothing the optimiser could
//! throw away. Cases marked *best case* time a remembered answer or a context built
//! once; the others time what services do.

use std::hint::black_box;

use flowgate::{labels, Client, Labels};

use crate::service::{
    file_client, handler, many_flags_json, many_flags_toml, request, requests, sdk_handler,
    sdk_variant_handler, shuffled_names, sixteen_in_constraints, variant_handler,
    yggdrasil_handler, yggdrasil_variant_handler, FILLER, IN16_LABELS, IN16_VALUE,
};
use crate::{
    concurrency_limited, gated, gated_async, gated_on_unleash, limits_client, rate_limited,
    run_ready, unleash_client, work, yggdrasil, Engines,
};

/// A case: what it is, and whether it is a best case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    pub best_case: bool,
}

const fn case(name: &'static str, what: &'static str) -> Case {
    Case {
        name,
        what,
        best_case: false,
    }
}

const fn best(name: &'static str, what: &'static str) -> Case {
    Case {
        name,
        what,
        best_case: true,
    }
}

/// Every case, in the order the tables list them.
pub const CASES: &[Case] = &[
    case("handler/flowgate", "async handler gated on a 50% rollout in two regions, a fresh user per call, labels(userId, region)"),
    case("handler/yggdrasil", "the same handler with yggdrasil, its context built per request"),
    case("handler/unleash-sdk", "the same handler with the Unleash SDK, its context built per request"),
    case("handler-otel/flowgate", "the same handler (flowgate only) with an OpenTelemetry layer installed: tracing-opentelemetry over the SDK, every span sampled, no exporter"),
    case("handler-timed/flowgate", "the same handler (flowgate only) with a Prometheus collector registered: flows timed for its histograms"),
    case("handler-rejected/flowgate", "the same handler, every call from a region outside the rule"),
    case("handler-rejected/yggdrasil", "the same with yggdrasil"),
    case("handler-rejected/unleash-sdk", "the same with the Unleash SDK"),
    case("handler-variant/flowgate", "a handler choosing a 50/50 variant for a fresh user, labels built per call"),
    case("handler-variant/yggdrasil", "the same with yggdrasil"),
    case("handler-variant/unleash-sdk", "the same with the Unleash SDK"),
    case("by-name/flowgate", "an always-on flag asked by name, no labels"),
    case("by-name/yggdrasil", "the same with yggdrasil, an empty context per call"),
    case("by-name/unleash-sdk", "the same with the Unleash SDK"),
    case("labels-1/flowgate", "a 50% rollout on userId, 1 label built per call, a fresh user"),
    case("labels-1/yggdrasil", "the same with yggdrasil"),
    case("labels-4/flowgate", "the same, 4 labels (userId last)"),
    case("labels-4/yggdrasil", "the same with yggdrasil"),
    case("labels-8/flowgate", "the same, 8 labels"),
    case("labels-8/yggdrasil", "the same with yggdrasil"),
    case("labels-16/flowgate", "the same, 16 labels"),
    case("labels-16/yggdrasil", "the same with yggdrasil"),
    case("flags-10/flowgate", "10 constrained rollouts, touched in shuffled order, a fresh user per call"),
    case("flags-10/yggdrasil", "the same with yggdrasil"),
    case("flags-1k/flowgate", "the same with 1 000 flags"),
    case("flags-1k/yggdrasil", "the same with yggdrasil"),
    case("flags-100k/flowgate", "the same with 100 000 flags"),
    case("flags-100k/yggdrasil", "the same with yggdrasil"),
    case("in16/flowgate", "a flag of 16 IN constraints of 16 values each, 16 labels built per call"),
    case("in16/yggdrasil", "the same with yggdrasil"),
    best("in16-labels-once/flowgate", "the same flag, the 16 labels built once: the constraints alone"),
    best("in16-labels-once/yggdrasil", "the same with yggdrasil, its context built once"),
    case("ungated", "the handler's work, ungated"),
    best("best-gate-sync", "gated call, sync, always-on flag, no labels: its answer remembered at the call site"),
    best("best-gate-async", "the same, async, polled once"),
    best("best-gate-unleash", "the same on an Unleash source (usage counted)"),
    best("best-on/flowgate", "evaluate always-on, one context built once"),
    best("best-on/yggdrasil", "the same with yggdrasil"),
    best("best-on/unleash-sdk", "the same with the Unleash SDK"),
    best("best-rollout/flowgate", "evaluate a 50% rollout, the same user every call"),
    best("best-rollout/yggdrasil", "the same with yggdrasil"),
    best("best-rollout/unleash-sdk", "the same with the Unleash SDK"),
    best("best-constraint/flowgate", "evaluate a constraint + rollout, the same user every call"),
    best("best-constraint/yggdrasil", "the same with yggdrasil"),
    best("best-constraint/unleash-sdk", "the same with the Unleash SDK"),
    best("best-variant/flowgate", "evaluate a variant, the same user every call"),
    best("best-variant/yggdrasil", "the same with yggdrasil"),
    best("best-variant/unleash-sdk", "the same with the Unleash SDK"),
    case("gate-rate-limit", "gated call with a rate limit (always-on flag, no labels)"),
    case("governor", "governor's check alone"),
    case("gate-concurrency-limit", "gated call with a concurrency limit"),
    case("layer/ungated", "an axum route answering hello, a request with a fresh x-user-id built per call, body read to the end"),
    case("layer/noop-layer", "the same behind a tower layer that does nothing: axum's own cost of any layer"),
    case("layer/gated-rollout", "the same behind FlowgateLayer on a 50% rollout by the x-user-id header (half answer 404)"),
    best("layer/gated-constant", "the same behind FlowgateLayer on an always-on flag, no labels"),
    case("layer/gated-off", "the same behind FlowgateLayer on a flag that is off: every request answered 404"),
    case("semaphore", "tokio::sync::Semaphore try-acquire and release alone"),
];

/// The closure of case `name`, with everything it needs built; `None` for an unknown
/// name.
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn build(name: &str) -> Option<Box<dyn FnMut(u64)>> {
    let (kind, engine) = name.split_once('/').unwrap_or((name, ""));
    Some(match (kind, engine) {
        ("handler" | "handler-rejected", _) => {
            let region = if kind == "handler" { "eu" } else { "ap" };
            let requests = requests(region);
            match engine {
                "flowgate" => {
                    let client = file_client();
                    Box::new(move |i| {
                        black_box(run_ready(handler(&client, request(&requests, i))));
                    })
                }
                "yggdrasil" => {
                    let engine = yggdrasil(&crate::data_set());
                    Box::new(move |i| {
                        black_box(yggdrasil_handler(&engine, request(&requests, i)));
                    })
                }
                "unleash-sdk" => {
                    let sdk = crate::unleash_sdk(&crate::data_set());
                    Box::new(move |i| {
                        black_box(sdk_handler(&sdk, request(&requests, i)));
                    })
                }
                _ => return None,
            }
        }
        ("handler-otel", "flowgate") => {
            let requests = requests("eu");
            let client = file_client();
            // Set for this thread while the case lives (cases are built and dropped one
            // at a time, on the thread that runs them).
            let guard = crate::otel_subscriber();
            Box::new(move |i| {
                let _ = &guard;
                black_box(run_ready(handler(&client, request(&requests, i))));
            })
        }
        ("handler-timed", "flowgate") => {
            let requests = requests("eu");
            let client = file_client();
            // A collector registered: the client times its flows from now on.
            let mut registry = prometheus_client::registry::Registry::default();
            flowgate::prometheus::register(&client, &mut registry);
            Box::new(move |i| {
                black_box(run_ready(handler(&client, request(&requests, i))));
            })
        }
        ("handler-variant", _) => {
            let requests = requests("eu");
            match engine {
                "flowgate" => {
                    let client = file_client();
                    Box::new(move |i| {
                        black_box(variant_handler(&client, request(&requests, i)));
                    })
                }
                "yggdrasil" => {
                    let engine = yggdrasil(&crate::data_set());
                    Box::new(move |i| {
                        black_box(yggdrasil_variant_handler(&engine, request(&requests, i)));
                    })
                }
                "unleash-sdk" => {
                    let sdk = crate::unleash_sdk(&crate::data_set());
                    Box::new(move |i| {
                        black_box(sdk_variant_handler(&sdk, request(&requests, i)));
                    })
                }
                _ => return None,
            }
        }
        ("by-name", _) => {
            let engines = Engines::new();
            match engine {
                "flowgate" => Box::new(move |_| {
                    black_box(
                        engines
                            .flowgate
                            .is_enabled(black_box("on-7"), &Labels::new()),
                    );
                }),
                "yggdrasil" => Box::new(move |_| {
                    let context = unleash_yggdrasil::Context::default();
                    black_box(
                        engines
                            .yggdrasil
                            .is_enabled(black_box("on-7"), &context, &None),
                    );
                }),
                "unleash-sdk" => Box::new(move |_| {
                    let context = unleash_api_client::Context::default();
                    black_box(
                        engines
                            .sdk
                            .is_enabled_str(black_box("on-7"), Some(&context), false),
                    );
                }),
                _ => return None,
            }
        }
        ("labels-1" | "labels-4" | "labels-8" | "labels-16", _) => {
            let count: usize = kind["labels-".len()..].parse().ok()?;
            let requests = requests("eu");
            let engines = Engines::new();
            match engine {
                "flowgate" => Box::new(move |i| {
                    let request = request(&requests, i);
                    let mut labels = Labels::new();
                    for name in &FILLER[..count - 1] {
                        labels.insert(*name, "x");
                    }
                    labels.insert("userId", &request.user_id);
                    black_box(engines.flowgate.is_enabled(black_box("half-7"), &labels));
                }),
                "yggdrasil" => Box::new(move |i| {
                    let request = request(&requests, i);
                    let properties = FILLER[..count - 1]
                        .iter()
                        .map(|name| ((*name).to_owned(), "x".to_owned()))
                        .collect();
                    let context = unleash_yggdrasil::Context {
                        user_id: Some(request.user_id.clone()),
                        properties: Some(properties),
                        ..Default::default()
                    };
                    black_box(
                        engines
                            .yggdrasil
                            .is_enabled(black_box("half-7"), &context, &None),
                    );
                }),
                _ => return None,
            }
        }
        ("flags-10" | "flags-1k" | "flags-100k", _) => {
            let count = match kind {
                "flags-10" => 10,
                "flags-1k" => 1_000,
                _ => 100_000,
            };
            let names = shuffled_names(count);
            let requests = requests("eu");
            match engine {
                "flowgate" => {
                    let client = Client::from_toml_str(&many_flags_toml(count)).unwrap();
                    Box::new(move |i| {
                        let request = request(&requests, i);
                        #[allow(clippy::cast_possible_truncation)]
                        let name = &names[i as usize % names.len()];
                        let labels =
                            labels! { "userId" => &request.user_id, "region" => request.region };
                        black_box(client.is_enabled(name, &labels));
                    })
                }
                "yggdrasil" => {
                    let engine = yggdrasil(&many_flags_json(count));
                    Box::new(move |i| {
                        let request = request(&requests, i);
                        #[allow(clippy::cast_possible_truncation)]
                        let name = &names[i as usize % names.len()];
                        let context = unleash_yggdrasil::Context {
                            user_id: Some(request.user_id.clone()),
                            properties: Some(std::collections::HashMap::from([(
                                "region".to_owned(),
                                request.region.to_owned(),
                            )])),
                            ..Default::default()
                        };
                        black_box(engine.is_enabled(name, &context, &None));
                    })
                }
                _ => return None,
            }
        }
        ("in16", _) => {
            let (toml, json) = sixteen_in_constraints();
            match engine {
                "flowgate" => {
                    let client = Client::from_toml_str(&toml).unwrap();
                    Box::new(move |_| {
                        let labels: Labels<'_> =
                            IN16_LABELS.iter().map(|name| (*name, IN16_VALUE)).collect();
                        black_box(client.is_enabled(black_box("in16"), &labels));
                    })
                }
                "yggdrasil" => {
                    let engine = yggdrasil(&json);
                    Box::new(move |_| {
                        let properties = IN16_LABELS
                            .iter()
                            .map(|name| ((*name).to_owned(), IN16_VALUE.to_owned()))
                            .collect();
                        let context = unleash_yggdrasil::Context {
                            properties: Some(properties),
                            ..Default::default()
                        };
                        black_box(engine.is_enabled(black_box("in16"), &context, &None));
                    })
                }
                _ => return None,
            }
        }
        ("in16-labels-once", _) => {
            let (toml, json) = sixteen_in_constraints();
            match engine {
                "flowgate" => {
                    let client = Client::from_toml_str(&toml).unwrap();
                    let labels: Labels<'static> =
                        IN16_LABELS.iter().map(|name| (*name, IN16_VALUE)).collect();
                    Box::new(move |_| {
                        black_box(client.is_enabled(black_box("in16"), &labels));
                    })
                }
                "yggdrasil" => {
                    let engine = yggdrasil(&json);
                    let context = unleash_yggdrasil::Context {
                        properties: Some(
                            IN16_LABELS
                                .iter()
                                .map(|name| ((*name).to_owned(), IN16_VALUE.to_owned()))
                                .collect(),
                        ),
                        ..Default::default()
                    };
                    Box::new(move |_| {
                        black_box(engine.is_enabled(black_box("in16"), &context, &None));
                    })
                }
                _ => return None,
            }
        }
        ("layer", kind) => {
            let client = crate::layer::client();
            let router = crate::layer::router(kind, &client)?;
            Box::new(move |i| {
                black_box(crate::layer::call(&router, crate::layer::request(i)));
            })
        }
        ("ungated", _) => Box::new(|i| {
            black_box(work(i));
        }),
        ("best-gate-sync", _) => {
            let engines = Engines::new();
            Box::new(move |i| {
                black_box(gated(&engines.flowgate, i));
            })
        }
        ("best-gate-async", _) => {
            let engines = Engines::new();
            Box::new(move |i| {
                black_box(run_ready(gated_async(&engines.flowgate, i)));
            })
        }
        ("best-gate-unleash", _) => {
            let client = unleash_client();
            Box::new(move |i| {
                black_box(gated_on_unleash(&client, i));
            })
        }
        ("best-on" | "best-rollout" | "best-constraint" | "best-variant", _) => {
            let flag = match kind {
                "best-on" => "on-7",
                "best-rollout" => "half-7",
                "best-constraint" => "regional-7",
                _ => "variant-7",
            };
            let variant = kind == "best-variant";
            let Engines {
                flowgate,
                yggdrasil,
                sdk,
                labels,
                ygg_context,
                sdk_context,
            } = Engines::new();
            match (engine, variant) {
                ("flowgate", true) => Box::new(move |_| {
                    black_box(flowgate.variant(black_box(flag), &labels));
                }),
                ("flowgate", false) => Box::new(move |_| {
                    black_box(flowgate.is_enabled(black_box(flag), &labels));
                }),
                ("yggdrasil", true) => Box::new(move |_| {
                    black_box(yggdrasil.get_variant(black_box(flag), &ygg_context, &None));
                }),
                ("yggdrasil", false) => Box::new(move |_| {
                    black_box(yggdrasil.is_enabled(black_box(flag), &ygg_context, &None));
                }),
                ("unleash-sdk", true) => Box::new(move |_| {
                    black_box(sdk.get_variant_str(black_box(flag), &sdk_context));
                }),
                ("unleash-sdk", false) => Box::new(move |_| {
                    black_box(sdk.is_enabled_str(black_box(flag), Some(&sdk_context), false));
                }),
                _ => return None,
            }
        }
        ("gate-rate-limit", _) => {
            let client = limits_client();
            Box::new(move |i| {
                black_box(rate_limited(&client, i));
            })
        }
        ("governor", _) => {
            let governor = governor::RateLimiter::direct(governor::Quota::per_second(
                std::num::NonZeroU32::new(1_000_000_000).unwrap(),
            ));
            Box::new(move |_| {
                black_box(governor.check().is_ok());
            })
        }
        ("gate-concurrency-limit", _) => {
            let client = limits_client();
            Box::new(move |i| {
                black_box(concurrency_limited(&client, i));
            })
        }
        ("semaphore", _) => {
            let semaphore = tokio::sync::Semaphore::new(1000);
            Box::new(move |_| drop(black_box(semaphore.try_acquire().unwrap())))
        }
        ("empty", _) => Box::new(|i| {
            black_box(i);
        }),
        _ => return None,
    })
}
