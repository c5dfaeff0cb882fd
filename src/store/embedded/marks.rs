//! Reading a user's likes or saves back from a table keyed `user<sep>kind<sep>id`.

use fitpulse_actors::domain::{ItemRef, UserId};
use fitpulse_actors::ports::store::{Mark, StoreError};
use redb::{ReadTransaction, TableDefinition};

use super::{KEY_SEPARATOR, backend, prefix_range};

/// Every mark of `user` in `table`, whose values are the times they were made.
pub(super) fn marks_of(
    txn: &ReadTransaction,
    table: TableDefinition<&str, i64>,
    user: UserId,
) -> Result<Vec<Mark>, StoreError> {
    let table = txn.open_table(table).map_err(backend)?;
    let (start, end) = prefix_range(&user.to_string());
    let mut marks = Vec::new();
    for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
        let (key, at) = entry.map_err(backend)?;
        let mut parts = key.value().split(KEY_SEPARATOR).skip(1);
        let (Some(kind), Some(id)) = (parts.next(), parts.next()) else {
            return Err(StoreError::backend(std::io::Error::other(
                "a malformed mark key",
            )));
        };
        let item = ItemRef::parse(kind, id).map_err(StoreError::backend)?;
        marks.push(Mark {
            item,
            at: at.value(),
        });
    }
    Ok(marks)
}
