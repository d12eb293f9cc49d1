//! `#[zeroproc::data]` on recursive types (a tree, a JSON-like enum, a linked list): they
//! compile without rkyv attributes of the user's own and travel through a pool, a queue
//! and a shared dict. Before, the derive's field bounds made the compiler prove the type's
//! impls from themselves: error E0275 ("overflow evaluating the requirement").

use std::collections::BTreeMap;
use zeroproc::{Pool, Queue, SharedDict};

zeroproc::test_worker!();

#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
struct Tree {
    value: u32,
    children: Vec<Tree>,
}

#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Num(f64),
    Text(String),
    List(Vec<Json>),
    Object { fields: BTreeMap<String, Json>, parent: Option<Box<Self>> },
}

#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
struct Cons(u64, Option<Box<Cons>>);

/// Generic, recursive, with commas inside angle brackets and tuples.
#[zeroproc::data]
#[derive(Debug, Clone, PartialEq)]
struct Labeled<T> {
    label: T,
    weights: Vec<(u8, Vec<u8>)>,
    next: Option<Box<Labeled<T>>>,
}

fn grow(depth: u32) -> Tree {
    Tree { value: depth, children: (0..depth.min(3)).map(grow).collect() }
}

fn json() -> Json {
    let mut fields = BTreeMap::new();
    fields.insert("a".to_string(), Json::List(vec![Json::Num(1.5), Json::Null]));
    fields.insert("b".to_string(), Json::Text("x".into()));
    Json::Object { fields, parent: Some(Box::new(Json::List(vec![Json::Null]))) }
}

#[test]
fn recursive_types_travel_through_a_pool() {
    let pool = Pool::builder().workers(1).build().unwrap();
    assert_eq!(pool.submit(grow, 5).result(), Ok(grow(5)));
    let echoed = pool.submit(|j: Json| j, json()).result();
    assert_eq!(echoed, Ok(json()));
    let list = Cons(1, Some(Box::new(Cons(2, Some(Box::new(Cons(3, None)))))));
    let sum = pool
        .submit(
            |c: Cons| {
                let (mut s, mut at) = (0, Some(&c));
                while let Some(Cons(v, next)) = at {
                    s += v;
                    at = next.as_deref();
                }
                s
            },
            list,
        )
        .result();
    assert_eq!(sum, Ok(6));
    let l = Labeled { label: "a".to_string(), weights: vec![(1, vec![2])], next: None };
    let l = Labeled { label: "b".to_string(), weights: vec![], next: Some(Box::new(l)) };
    assert_eq!(pool.submit(|l: Labeled<String>| l, l.clone()).result(), Ok(l));
}

#[test]
fn recursive_types_travel_through_a_queue_and_a_dict() {
    let q = Queue::<Json>::new(4).unwrap();
    q.put(json()).unwrap();
    assert_eq!(q.get().unwrap(), json());
    let d = SharedDict::<String, Tree>::new().unwrap();
    d.insert("t".into(), grow(4)).unwrap();
    assert_eq!(d.get(&"t".into()).unwrap(), Some(grow(4)));
}

/// A user who already applied rkyv's own recipe (`omit_bounds` and the bounds): the
/// attribute leaves the type as written.
#[zeroproc::data]
#[rkyv(serialize_bounds(
    __S: zeroproc::rkyv::ser::Writer + zeroproc::rkyv::ser::Allocator,
    __S::Error: zeroproc::rkyv::rancor::Source,
))]
#[rkyv(deserialize_bounds(__D::Error: zeroproc::rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(
    __C: zeroproc::rkyv::validation::ArchiveContext,
    __C::Error: zeroproc::rkyv::rancor::Source,
)))]
#[derive(Debug, Clone, PartialEq)]
struct ManualTree {
    value: u32,
    #[rkyv(omit_bounds)]
    children: Vec<ManualTree>,
}

#[test]
fn a_recursive_type_with_rkyvs_own_recipe_still_works() {
    let pool = Pool::builder().workers(1).build().unwrap();
    let t = ManualTree { value: 1, children: vec![ManualTree { value: 2, children: vec![] }] };
    assert_eq!(pool.submit(|t: ManualTree| t, t.clone()).result(), Ok(t));
}
