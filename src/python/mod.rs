//! The only module that knows `PyO3`: classes, argument conversion and error mapping.

mod args;
mod client_options;
mod consumer;
mod errors;
mod keywords;
mod message;
mod producer;
mod wait;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_ami")]
fn ami_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<producer::ProducerCorePy>()?;
    m.add_class::<consumer::ConsumerCorePy>()?;
    m.add_class::<message::MessagePy>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
