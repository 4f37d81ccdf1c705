//! Ambient labels without the layer: `flowgate::labels::scope` and `sync_scope` add
//! labels to every decision inside them; a call's own labels win; scopes nest; a task
//! spawned inside does not inherit them; generated label sets merge as a map would.

use std::collections::BTreeMap;

use flowgate::labels::{scope, sync_scope};
use flowgate::testing::InMemorySource;
use flowgate::{labels, Client, Labels};

/// A client whose flag `Echo` is on when the labels are exactly `want`.
fn echo(want: BTreeMap<String, String>) -> Client {
    InMemorySource::new()
        .rule("Echo", move |labels| {
            let seen: BTreeMap<String, String> = labels
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            seen == want
        })
        .into_client()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_scope_adds_its_labels_and_the_calls_own_win() {
    let client = echo(map(&[("userId", "7"), ("plan", "beta"), ("region", "eu")]));
    let inside = scope(
        labels! { "userId" => 1, "plan" => "beta" }.into_owned(),
        async {
            tokio::task::yield_now().await;
            client.is_enabled("Echo", &labels! { "userId" => 7, "region" => "eu" })
        },
    )
    .await;
    assert!(inside, "ambient plan, own userId and region");
    assert!(!client.is_enabled("Echo", &labels! { "userId" => 7, "region" => "eu" }));
}

#[tokio::test]
async fn scopes_nest_and_spawned_tasks_do_not_inherit() {
    let client = echo(map(&[("a", "outer"), ("b", "inner")]));
    let (nested, spawned) = scope(
        labels! { "a" => "outer", "b" => "outer" }.into_owned(),
        async {
            let nested = scope(labels! { "b" => "inner" }.into_owned(), async {
                client.is_enabled("Echo", &Labels::new())
            })
            .await;
            let client = client.clone();
            let spawned = tokio::spawn(async move { client.is_enabled("Echo", &Labels::new()) })
                .await
                .unwrap();
            (nested, spawned)
        },
    )
    .await;
    assert!(nested);
    assert!(!spawned);
}

/// A scope with no labels adds nothing and hides nothing: inside another scope, the
/// outer labels still reach decisions.
#[tokio::test]
async fn an_empty_scope_keeps_the_outer_labels() {
    let client = echo(map(&[("userId", "9")]));
    let inside = scope(labels! { "userId" => 9 }.into_owned(), async {
        scope(Labels::new(), async {
            tokio::task::yield_now().await;
            client.is_enabled("Echo", &Labels::new())
        })
        .await
    })
    .await;
    assert!(inside);
    let alone = scope(Labels::new(), async {
        client.is_enabled("Echo", &Labels::new())
    })
    .await;
    assert!(!alone, "no scope around: no labels");
}

#[test]
fn sync_scope_works_outside_a_runtime() {
    let client = echo(map(&[("userId", "3")]));
    assert!(sync_scope(labels! { "userId" => 3 }.into_owned(), || {
        client.is_enabled("Echo", &Labels::new())
    }));
    assert!(!client.is_enabled("Echo", &Labels::new()));
}

/// Generated ambient and own label sets (up to eight each, overlapping names): the
/// labels a decision sees are the ambient ones with the call's own written over them.
#[test]
fn generated_label_sets_merge_as_a_map() {
    let names = ["a", "b", "c", "d", "e", "userId", "region", "plan"];
    let mut rng = fastrand::Rng::with_seed(2);
    for _ in 0..500 {
        let pick = |rng: &mut fastrand::Rng| -> Vec<(String, String)> {
            (0..rng.usize(0..8))
                .map(|_| {
                    (
                        names[rng.usize(..names.len())].to_owned(),
                        rng.u16(..).to_string(),
                    )
                })
                .collect()
        };
        let ambient = pick(&mut rng);
        let own = pick(&mut rng);
        let mut want = BTreeMap::new();
        for (k, v) in ambient.iter().chain(&own) {
            want.insert(k.clone(), v.clone());
        }
        let client = echo(want);
        let ambient_labels: Labels<'static> = ambient.iter().cloned().collect();
        let own_labels: Labels<'_> = own.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(
            sync_scope(ambient_labels, || client.is_enabled("Echo", &own_labels)),
            "{ambient:?} then {own:?}"
        );
    }
}
