//! One exhaustive mapping from the core's `Error` to the exceptions of `ami.exceptions`.

use crate::error::Error;
use pyo3::prelude::*;

pyo3::import_exception!(ami.exceptions, ConfigError);
pyo3::import_exception!(ami.exceptions, ConnectError);
pyo3::import_exception!(ami.exceptions, UnsupportedServerError);
pyo3::import_exception!(ami.exceptions, OperationTimeout);
pyo3::import_exception!(ami.exceptions, ServerError);
pyo3::import_exception!(ami.exceptions, DeliveryError);
pyo3::import_exception!(ami.exceptions, InvalidEntryError);
pyo3::import_exception!(ami.exceptions, DeadLetteredError);
pyo3::import_exception!(ami.exceptions, MessageTooLargeError);
pyo3::import_exception!(ami.exceptions, ClientClosedError);
pyo3::import_exception!(ami.exceptions, InvalidMessageError);
pyo3::import_exception!(ami.exceptions, InvalidHeaderError);
pyo3::import_exception!(ami.exceptions, InternalError);
pyo3::import_exception!(ami.exceptions, TransientError);

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::InvalidOption { option, .. } => ConfigError::new_err((message, option)),
            Error::Connect { nodes, .. } => ConnectError::new_err((message, nodes)),
            Error::UnsupportedServer { key, version, .. } => {
                UnsupportedServerError::new_err((message, key, version))
            }
            Error::Timeout { seconds, .. } => OperationTimeout::new_err((message, seconds)),
            Error::Server {
                command, key, code, ..
            } => ServerError::new_err((message, command, key, code)),
            Error::Transient {
                command,
                key,
                node,
                code,
                ..
            } => TransientError::new_err((message, command, key, node, code)),
            Error::Delivery { failed, .. } => DeliveryError::new_err((message, failed)),
            Error::InvalidEntry { stream, id } => InvalidEntryError::new_err((message, stream, id)),
            Error::DeadLettered {
                stream,
                id,
                deliveries,
            } => DeadLetteredError::new_err((message, stream, id, deliveries)),
            Error::MessageTooLarge { size, limit } => {
                MessageTooLargeError::new_err((message, size, limit))
            }
            Error::Closed { .. } => ClientClosedError::new_err(message),
            Error::Panicked { task, .. } => InternalError::new_err((message, task)),
        }
    }
}

/// The exception object for an error that is handed to `on_error` rather than raised.
pub fn to_exception(py: Python<'_>, error: Error) -> Py<PyAny> {
    PyErr::from(error).into_value(py).into_any()
}

pub fn invalid_message(message: String) -> PyErr {
    InvalidMessageError::new_err(message)
}

pub fn invalid_header(message: String) -> PyErr {
    InvalidHeaderError::new_err(message)
}
