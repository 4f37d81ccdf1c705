//! How a label value written in `#[feature_gate(labels(...))]` or `labels!` becomes a
//! [`Value`], chosen by autoref specialisation: the fast conversions of
//! [`LabelValue`] and [`LendLabel`] where the type has one, `Display` (through
//! `core::fmt`) otherwise, and an error at the value for anything else.
//!
//! Public only for the expansions (hidden from the docs); here rather than in
//! `__private` so that the compiler's notes on a bad value name `flowgate::labels`.

#![allow(missing_docs)]

use super::{LabelValue, LendLabel, Value};

/// A label value as an expansion sees it, to find how it becomes a [`Value`] by
/// autoref specialisation: the fast conversions of [`LabelValue`] and [`LendLabel`]
/// where the type has one, `Display` (through `core::fmt`) otherwise.
#[allow(missing_debug_implementations)]
pub struct LabelProbe<'r, T: ?Sized>(pub &'r T);

/// `#[feature_gate(labels(...))]`: each value is bound by reference in the gated
/// function (`let v = &(expr);`, so temporaries live as long), then borrowed.
pub trait BorrowsLabel<'a> {
    fn borrow_label(&self) -> Value<'a>;
}

impl<'a, T: ?Sized> BorrowsLabel<'a> for LabelProbe<'a, T>
where
    &'a T: LabelValue<'a>,
{
    #[inline]
    fn borrow_label(&self) -> Value<'a> {
        self.0.into_label_value()
    }
}

/// The fallback of [`BorrowsLabel`]: applies to every type, so that a type that is
/// not `Display` either fails at [`LabelDisplay`], whose message says what a label
/// value can be, rather than as a method that is not found.
pub trait BorrowsDisplay {
    type Value: ?Sized;
    fn borrow_label(&self) -> Value<'static>
    where
        Self::Value: LabelDisplay;
}

impl<T: ?Sized> BorrowsDisplay for &LabelProbe<'_, T> {
    type Value = T;
    fn borrow_label(&self) -> Value<'static>
    where
        T: LabelDisplay,
    {
        self.0.label_display()
    }
}

/// A label value through `Display`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a label value",
    label = "not text, a number, a `bool`, a `char` or `Display`",
    note = "a label value is text (`&str`, `String`, `Cow<str>`, `Arc<str>`), a number, a `bool`, a `char`, an `Option` of one (`None` leaves the label out), or any type that implements `Display`",
    note = "for a type of your own, implement `Display`, or give a field of it: `labels(id = user.id)`"
)]
pub trait LabelDisplay {
    fn label_display(&self) -> Value<'static>;
}

impl<T: std::fmt::Display + ?Sized> LabelDisplay for T {
    fn label_display(&self) -> Value<'static> {
        Value::display(self)
    }
}

/// `labels!`: each value is taken by reference where it stands (maybe a temporary),
/// so owned text is copied and references are borrowed ([`LendLabel`]).
pub trait LendsLabel<'a> {
    fn lend_label(&self) -> Value<'a>;
}

impl<'a, T: ?Sized + LendLabel<'a>> LendsLabel<'a> for LabelProbe<'_, T> {
    #[inline]
    fn lend_label(&self) -> Value<'a> {
        self.0.lend_label_value()
    }
}

/// The fallback of [`LendsLabel`], as [`BorrowsDisplay`] is of [`BorrowsLabel`].
pub trait LendsDisplay {
    type Value: ?Sized;
    fn lend_label(&self) -> Value<'static>
    where
        Self::Value: LabelDisplay;
}

impl<T: ?Sized> LendsDisplay for &LabelProbe<'_, T> {
    type Value = T;
    fn lend_label(&self) -> Value<'static>
    where
        T: LabelDisplay,
    {
        self.0.label_display()
    }
}
