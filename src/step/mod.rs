//! What a step does: send a request and judge the response.

pub mod http;
pub mod judge;
pub mod propagate;
