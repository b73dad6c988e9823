//! The one place where opaque C pointers become Rust values and back.
//!
//! Each opaque C type names its Rust type and its ownership kind through
//! [`Castable`]; the helpers below accept only the matching kind, so a
//! `Box`-owned handle can never be freed as an `Arc` (or the reverse).
//! Every cast in the crate goes through these functions.

use std::sync::Arc;

/// The handle was allocated with `Box` and has exactly one owner (the caller).
pub(crate) struct OwnershipBox;

/// The handle was allocated with `Arc`; calls take their own reference for
/// their duration, so a concurrent `lc_close` cannot free it under them.
pub(crate) struct OwnershipArc;

/// Ties an opaque C type to the Rust value behind it.
pub(crate) trait Castable {
    type Ownership;
    type RustType;
}

/// Moves `value` to the heap and gives the caller the owning pointer.
pub(crate) fn box_into_ptr<C>(value: C::RustType) -> *mut C
where
    C: Castable<Ownership = OwnershipBox>,
{
    Box::into_raw(Box::new(value)).cast::<C>()
}

/// Takes back ownership of a pointer made by [`box_into_ptr`]; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or came from `box_into_ptr::<C>` and was not freed since;
/// the caller gives up the pointer.
pub(crate) unsafe fn box_from_ptr<C>(ptr: *mut C) -> Option<Box<C::RustType>>
where
    C: Castable<Ownership = OwnershipBox>,
{
    if ptr.is_null() {
        return None;
    }
    // SAFETY: per this function's contract the pointer is a live Box of
    // C::RustType that nobody else owns.
    Some(unsafe { Box::from_raw(ptr.cast::<C::RustType>()) })
}

/// Borrows a `Box` handle; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a live pointer from `box_into_ptr::<C>` that no other
/// thread mutates or frees during `'a`.
pub(crate) unsafe fn box_ref<'a, C>(ptr: *const C) -> Option<&'a C::RustType>
where
    C: Castable<Ownership = OwnershipBox>,
{
    // SAFETY: per this function's contract, non-NULL means a live, shared-
    // readable value of C::RustType.
    unsafe { ptr.cast::<C::RustType>().as_ref() }
}

/// Borrows a `Box` handle mutably; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a live pointer from `box_into_ptr::<C>` that no other
/// thread uses during `'a`.
pub(crate) unsafe fn box_mut<'a, C>(ptr: *mut C) -> Option<&'a mut C::RustType>
where
    C: Castable<Ownership = OwnershipBox>,
{
    // SAFETY: per this function's contract, non-NULL means a live value of
    // C::RustType used by this thread only.
    unsafe { ptr.cast::<C::RustType>().as_mut() }
}

/// Gives the caller one strong reference as an opaque pointer.
pub(crate) fn arc_into_ptr<C>(value: Arc<C::RustType>) -> *mut C
where
    C: Castable<Ownership = OwnershipArc>,
{
    Arc::into_raw(value).cast_mut().cast::<C>()
}

/// A new strong reference to the value behind `ptr`, for the duration of
/// one call; the caller's own reference is untouched. `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or came from `arc_into_ptr::<C>` and the caller's
/// reference has not been released.
pub(crate) unsafe fn arc_clone<C>(ptr: *const C) -> Option<Arc<C::RustType>>
where
    C: Castable<Ownership = OwnershipArc>,
{
    if ptr.is_null() {
        return None;
    }
    let raw = ptr.cast::<C::RustType>();
    // SAFETY: the pointer came from Arc::into_raw and its reference is still
    // held by the caller, so the allocation is live; incrementing before
    // from_raw leaves the caller's reference intact.
    unsafe {
        Arc::increment_strong_count(raw);
        Some(Arc::from_raw(raw))
    }
}

/// Takes back the caller's strong reference; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or came from `arc_into_ptr::<C>`; the caller gives up its
/// reference and does not use the pointer again.
pub(crate) unsafe fn arc_from_ptr<C>(ptr: *mut C) -> Option<Arc<C::RustType>>
where
    C: Castable<Ownership = OwnershipArc>,
{
    if ptr.is_null() {
        return None;
    }
    // SAFETY: per this function's contract the pointer holds one strong
    // reference made by Arc::into_raw, which we now take over.
    Some(unsafe { Arc::from_raw(ptr.cast_const().cast::<C::RustType>()) })
}
