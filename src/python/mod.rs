//! The only module that knows `PyO3`: classes, argument conversion and error mapping.

mod admin;
mod args;
mod blocking;
mod client_options;
mod consumer;
mod errors;
mod keywords;
mod message;
mod naming;
mod producer;
mod reports;
mod stream_names;
mod wait;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_ami")]
fn ami_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<producer::ProducerCorePy>()?;
    m.add_class::<consumer::ConsumerCorePy>()?;
    m.add_class::<message::MessagePy>()?;
    m.add_class::<admin::AdminCorePy>()?;
    m.add_class::<reports::DeliveryReportPy>()?;
    m.add_function(wrap_pyfunction!(naming::stream_name, m)?)?;
    m.add_function(wrap_pyfunction!(naming::dead_letter_stream_name, m)?)?;
    m.add_function(wrap_pyfunction!(naming::shard_slot, m)?)?;
    m.add_function(wrap_pyfunction!(naming::choose_spread_offset, m)?)?;
    m.add_function(wrap_pyfunction!(naming::group_name, m)?)?;
    m.add_function(wrap_pyfunction!(naming::validate_name, m)?)?;
    m.add_function(wrap_pyfunction!(naming::shard_for_key, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_SHARDS", crate::options::MAX_SHARDS)?;
    Ok(())
}
