//! The README's code blocks compile (see `build.rs`, which extracts them): the names
//! they take as given are defined here, in the shapes a service has them.

/// What the README's examples take as given.
mod prelude {
    pub(crate) use std::time::Duration;

    pub(crate) use axum::http::StatusCode;
    pub(crate) use flowgate::{feature_gate, labels, Client, FlowStatus, Labels, Rejection};

    pub(crate) struct User {
        pub(crate) id: u64,
    }
    pub(crate) struct Cart;
    pub(crate) struct Receipt;
    pub(crate) struct Product;

    #[derive(Debug)]
    pub(crate) struct ShopError;

    impl From<Rejection> for ShopError {
        fn from(_: Rejection) -> Self {
            Self
        }
    }

    pub(crate) async fn place_order(_: &User, _: &Cart) -> Result<Receipt, ShopError> {
        tokio::task::yield_now().await;
        Ok(Receipt)
    }

    pub(crate) fn best_sellers_for(_: &User) -> Vec<Product> {
        Vec::new()
    }

    /// `client`, `labels`, `timeout`, `token`, `id`.
    pub(crate) fn given() -> (Client, Labels<'static>, Duration, String, u64) {
        (
            Client::new(flowgate::source::EmptySource),
            Labels::new(),
            Duration::ZERO,
            String::new(),
            7,
        )
    }
}

include!(concat!(env!("OUT_DIR"), "/readme_blocks.rs"));

// The blocks are there: the extraction did not silently find none.
const _: () = assert!(BLOCKS >= 7, "the README's rust blocks were not found");

/// Each block's function exists and builds its future (the examples are compiled, not
/// run: they name files and servers this test does not have).
#[test]
fn every_readme_block_is_compiled() {
    let futures = [drop(readme_block_1()), drop(readme_block_7())];
    assert_eq!(futures.len(), 2);
}
