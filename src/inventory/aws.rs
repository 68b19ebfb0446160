//! The AWS reader: fills the inventory from API Gateway, API Gateway v2 and WAFv2.
