//! What every handle has: the handles of queues, pipes, containers and arrays are plain
//! data (a segment id and what checks the attach) that travel to a job or a process as
//! rkyv archives. Their type parameters appear only in `PhantomData`, so `Clone`,
//! `PartialEq`/`Eq` and `Debug` must not require them of `T`: written once here, not
//! derived.

/// Implements `Clone`, `PartialEq`, `Eq` (over every field) and `Debug` (over the fields
/// named after `debug`) for a handle, without bounds on its type parameters.
macro_rules! handle_impls {
    ($name:ident $(< $($p:ident),* >)? { $($field:ident),* } debug { $($shown:ident),* }) => {
        impl$(<$($p),*>)? Clone for $name$(<$($p),*>)? {
            fn clone(&self) -> Self {
                Self { $($field: self.$field.clone()),* }
            }
        }

        impl$(<$($p),*>)? PartialEq for $name$(<$($p),*>)? {
            fn eq(&self, o: &Self) -> bool {
                true $(&& self.$field == o.$field)*
            }
        }

        impl$(<$($p),*>)? Eq for $name$(<$($p),*>)? {}

        impl$(<$($p),*>)? std::fmt::Debug for $name$(<$($p),*>)? {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($shown), &self.$shown))*
                    .finish()
            }
        }
    };
}

pub(crate) use handle_impls;
