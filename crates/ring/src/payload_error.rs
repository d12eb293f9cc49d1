//! The one definition of the errors that hand a payload back (crossbeam's families:
//! `TryXError`, `XError`, `XTimeoutError`), used by the MPMC ring and by zeroproc-mp's
//! queues and pipes.

/// Defines an error enum whose every variant carries the payload first (and optionally
/// one more named field, shown by `Display`), with `into_inner`, `Debug`/`Display`/
/// `Error` that do not require the payload to be `Debug`, and `PartialEq`/`Eq` when the
/// payload has them (the extra field compared by its `Display` text).
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

        impl<T> $name<T> {
            fn payload_ref(&self) -> &T {
                match self {
                    $( $name::$variant(t, ..) => t, )+
                }
            }

            /// Whether `other` is the same variant with an equal extra field (compared by
            /// its message, as `DecodeError` compares rkyv's errors, which have no equality).
            fn same_cause(&self, other: &Self) -> bool {
                match (self, other) {
                    $( ($name::$variant(_ $(, $field)?), $name::$variant(..)) => {
                        $(
                            if let $name::$variant(_, other_field) = other {
                                return $field.to_string() == other_field.to_string();
                            }
                        )?
                        true
                    } )+
                    #[allow(unreachable_patterns)]
                    _ => false,
                }
            }
        }

        /// Equal when the variant is the same, the payloads are equal (`T`'s `PartialEq`)
        /// and any other field has the same message (`Display`: rkyv's serializer errors
        /// have no equality) — crossbeam-channel's `TrySendError<T>` is `PartialEq` when
        /// `T` is, so `assert_eq!(q.try_put(x), Err(TryPutError::Full(x)))` holds.
        impl<T: PartialEq> PartialEq for $name<T> {
            fn eq(&self, other: &Self) -> bool {
                self.same_cause(other) && self.payload_ref() == other.payload_ref()
            }
        }

        impl<T: Eq> Eq for $name<T> {}

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
