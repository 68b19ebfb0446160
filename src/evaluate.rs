//! Pure evaluation: an inventory and the profile's control parameters in, findings out.
