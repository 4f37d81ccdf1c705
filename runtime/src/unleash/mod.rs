pub(crate) mod features;
