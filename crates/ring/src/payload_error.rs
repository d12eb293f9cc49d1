//! The one definition of the errors that hand a payload back (crossbeam's families:
//! `TryXError`, `XError`, `XTimeoutError`), used by the MPMC ring and by zeroproc-mp's
//! queues and pipes.

/// Defines an error enum whose every variant carries the payload first (and optionally
/// one more named field, shown by `Display`), with `into_inner`, and `Debug`/`Display`/
/// `Error` that do not require the payload to be `Debug`.
#[doc(hidden)]
#[macro_export]
macro_rules! payload_error {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident ( T $(, $field:ident : $extra:ty)? ) => $msg:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        pub enum $name<T> {
            $( $(#[$vmeta])* $variant(T $(, $extra)?), )+
        }

        impl<T> $name<T> {
            /// The value that was not sent, handed back.
            pub fn into_inner(self) -> T {
                match self {
                    $( $name::$variant(t, ..) => t, )+
                }
            }
        }

        impl<T> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $( $name::$variant(_ $(, $field)?) => {
                        f.write_str(concat!(stringify!($variant), "(.."))?;
                        $( write!(f, ", {:?}", $field)?; )?
                        f.write_str(")")
                    } )+
                }
            }
        }

        impl<T> std::fmt::Display for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    $( $name::$variant(_ $(, $field)?) => {
                        f.write_str($msg)?;
                        $( write!(f, ": {}", $field)?; )?
                        Ok(())
                    } )+
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}
    };
}
