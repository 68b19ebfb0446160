//! The inventory: an SDK-free snapshot of the API Gateway resources of some regions.
//!
//! Everything the controls evaluate is here and nothing else, so evaluation is a pure
//! function of this model. The AWS reader ([`reader`]) fills it; tests build it in
//! code; [`cache`] shares reads between the profiles of one identity and region.

pub mod cache;
mod from_sdk;
pub mod model;
pub mod patch;
pub mod reader;
pub mod retry;
pub mod single;
pub mod target;
pub mod targeted;

pub use model::{
    AccessLogSettings, DomainName, Integration, IntegrationLookup, Inventory, MethodSetting, Needs,
    ReadError, RegionInventory, RestApi, RestStage, Route, TlsConfig, V2Api, V2Stage,
};
