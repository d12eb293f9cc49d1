//! Queues, joinable queues and pipes: full, empty, closed, timed out, disconnected, dead
//! peers, wrong kinds and types.

use super::*;

const CHANNELS: &[Case] = &[
    Case {
        what: "Queue::new(0)",
        python: "- (Queue(0) is unbounded)",
        trigger: || fails(Queue::<u8>::new(0).map(|_| ())),
        display: &["capacity"],
        debug: &["Config"],
    },
    Case {
        what: "try_put on a full queue",
        python: "queue.Full",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            setup(q.put(1))?;
            fails(q.try_put(2))
        },
        display: &["full"],
        debug: &["Full"],
    },
    Case {
        what: "put_timeout on a full queue",
        python: "queue.Full",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            setup(q.put(1))?;
            fails(q.put_timeout(2, Duration::from_millis(5)))
        },
        display: &["timed out", "room"],
        debug: &["Timeout"],
    },
    Case {
        what: "put on a closed queue",
        python: "ValueError: Queue is closed",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            q.close();
            fails(q.put(1))
        },
        display: &["closed"],
        debug: &["Closed"],
    },
    Case {
        what: "try_get on an empty queue",
        python: "queue.Empty",
        trigger: || fails(setup(Queue::<u32>::new(1))?.try_get()),
        display: &["empty"],
        debug: &["Empty"],
    },
    Case {
        what: "get_timeout on an empty queue",
        python: "queue.Empty",
        trigger: || fails(setup(Queue::<u32>::new(1))?.get_timeout(Duration::from_millis(5))),
        display: &["timed out"],
        debug: &["Timeout"],
    },
    Case {
        what: "get on a closed, drained queue",
        python: "ValueError: Queue is closed (OSError: handle is closed)",
        trigger: || {
            let q = setup(Queue::<u32>::new(1))?;
            q.close();
            fails(q.get())
        },
        display: &["closed", "drained"],
        debug: &["Closed"],
    },
    Case {
        what: "put of a value larger than the queue's spill heap",
        python: "- (no limit)",
        trigger: || {
            let q =
                setup(Queue::<Vec<u8>>::builder(2).slot_size(256).max_heap_size(1 << 20).build())?;
            fails(q.put(vec![1u8; 4 << 20]))
        },
        display: &["too large", "max_heap_size"],
        debug: &["TooLarge"],
    },
    Case {
        what: "task_done() too often",
        python: "ValueError: task_done() called too many times",
        trigger: || fails(setup(JoinableQueue::<u8>::new(2))?.task_done()),
        display: &["task_done", "more times"],
        debug: &["TaskDoneError"],
    },
    Case {
        what: "join_timeout with tasks unfinished",
        python: "- (JoinableQueue.join has no timeout)",
        trigger: || {
            let q = setup(JoinableQueue::<u8>::new(2))?;
            setup(q.put(1))?;
            fails(q.join_timeout(Duration::from_millis(5)))
        },
        display: &["timed out", "1 task unfinished"],
        debug: &["unfinished: 1"],
    },
    Case {
        what: "a queue handle attached as another message type",
        python: "- (pickle has no types)",
        trigger: || {
            use zeroproc::rkyv;
            let q = setup(Queue::<u32>::new(1))?;
            let bytes = setup(rkyv::to_bytes::<rkyv::rancor::Error>(&q.handle()))?;
            let h =
                setup(rkyv::from_bytes::<zeroproc::QueueHandle<u64>, rkyv::rancor::Error>(&bytes))?;
            fails(h.attach().map(|_| ()))
        },
        display: &["message type"],
        debug: &["TypeMismatch"],
    },
    Case {
        what: "send on a pipe whose receiving end was dropped",
        python: "BrokenPipeError: [Errno 32] Broken pipe",
        trigger: || {
            let (mut a, b) = setup(zeroproc::pipe::<u32>())?;
            drop(b);
            fails(a.send(1))
        },
        display: &["receiving end", "gone"],
        debug: &["Disconnected"],
    },
    Case {
        what: "recv on a pipe whose sending end was dropped",
        python: "EOFError",
        trigger: || {
            let (a, mut b) = setup(zeroproc::pipe::<u32>())?;
            drop(a);
            fails(b.recv())
        },
        display: &["sending end", "gone"],
        debug: &["Disconnected"],
    },
    Case {
        what: "try_recv on an empty pipe",
        python: "- (poll() returns False)",
        trigger: || {
            let (_a, mut b) = setup(zeroproc::pipe::<u32>())?;
            fails(b.try_recv())
        },
        display: &["empty"],
        debug: &["Empty"],
    },
    Case {
        what: "recv_timeout on an empty pipe",
        python: "- (poll(timeout) returns False)",
        trigger: || {
            let (_a, mut b) = setup(zeroproc::pipe::<u32>())?;
            fails(b.recv_timeout(Duration::from_millis(5)))
        },
        display: &["timed out"],
        debug: &["Timeout"],
    },
    Case {
        what: "try_send on a full pipe",
        python: "- (send blocks)",
        trigger: || {
            let (mut a, _b) = setup(zeroproc::pipe::<u64>())?;
            for i in 0.. {
                if let Err(e) = a.try_send(i) {
                    return texts(e);
                }
            }
            unreachable!()
        },
        display: &["full"],
        debug: &["Full"],
    },
    Case {
        what: "recv of a message sent with send_bytes",
        python: "- (recv of a send_bytes message: UnpicklingError)",
        trigger: || {
            let (mut a, mut b) = setup(zeroproc::pipe::<u32>())?;
            setup(a.send_bytes(b"raw"))?;
            fails(b.recv())
        },
        display: &["send_bytes message with recv_bytes", "stays queued"],
        debug: &["WrongKind"],
    },
    Case {
        what: "recv_bytes of a message sent with send",
        python: "- (recv_bytes of a pickled message returns its bytes)",
        trigger: || {
            let (mut a, mut b) = setup(zeroproc::pipe::<u32>())?;
            setup(a.send(7))?;
            fails(b.recv_bytes())
        },
        display: &["send message with recv"],
        debug: &["WrongKind"],
    },
    Case {
        what: "send on a one-way pipe whose receiver process was killed",
        python: "BrokenPipeError",
        trigger: || {
            let (mut tx, rx) = setup(pipe_oneway::<u32>())?;
            let mut p = setup(Process::spawn(
                |h: zeroproc::ReceiverHandle<u32>| {
                    let _rx = h.attach().unwrap();
                    std::thread::sleep(Duration::from_secs(30));
                },
                rx.handle(),
            ))?;
            drop(rx);
            std::thread::sleep(Duration::from_millis(100));
            p.kill();
            setup(p.join())?;
            // A ring's worth of values may go in before the death is noticed.
            for i in 0..100_000 {
                if let Err(e) = tx.send_timeout(i, Duration::from_secs(2)) {
                    return texts(e);
                }
            }
            Err("100000 sends to a dead receiver succeeded".into())
        },
        display: &["receiving end", "gone"],
        debug: &["Disconnected"],
    },
    Case {
        what: "a pipe end attached twice",
        python: "- (two processes may use one end)",
        trigger: || {
            let (mut a, _b) = setup(zeroproc::pipe::<u32>())?;
            setup(a.send(1))?; // this process uses the end
            let h = a.handle();
            let mut p = setup(Process::spawn(
                |h: zeroproc::ConnectionHandle<u32>| {
                    let e = match h.attach() {
                        Err(e) => e.to_string(),
                        Ok(mut c) => c.send(2).err().map(|e| e.to_string()).unwrap_or_default(),
                    };
                    eprintln!("errors6 child: {e}");
                    // Exit code 0 only when the message names the cause.
                    std::process::exit(i32::from(
                        !(e.contains("in use by process") && e.contains("its own pipe")),
                    ));
                },
                h,
            ))?;
            match setup(p.join())? {
                zeroproc::Exit::Code(0) => Ok(("(checked in the child)".into(), String::new())),
                e => Err(format!("the child's attach of an end in use: {e:?}")),
            }
        },
        display: &[],
        debug: &[],
    },
    Case {
        what: "send of a value larger than the pipe's spill heap",
        python: "- (no limit; ValueError past 2 GiB on old Pythons)",
        trigger: || {
            let (mut a, _b) = setup(
                zeroproc::pipe::PipeBuilder::<Vec<u8>>::new().max_heap_size(1 << 20).duplex(),
            )?;
            fails(a.send(vec![1u8; 4 << 20]))
        },
        display: &["too large", "PipeBuilder::max_heap_size"],
        debug: &["TooLarge"],
    },
    Case {
        what: "a pipe end attached again after its attachment was dropped",
        python: "- (Python's copies of a connection close independently)",
        trigger: || {
            let (a, _b) = setup(zeroproc::pipe::<u32>())?;
            let h = a.handle();
            let mut p = setup(Process::spawn(
                |h: zeroproc::ConnectionHandle<u32>| {
                    let c = h.attach().unwrap();
                    drop(c);
                },
                h.clone(),
            ))?;
            setup(p.join())?;
            drop(a);
            fails(h.attach().map(|_| ()))
        },
        display: &["closed", "give each job its own pipe, or use a Queue"],
        debug: &["EndClosed"],
    },
];

/// Queues, joinable queues and pipes: full, empty, closed, timed out, disconnected,
/// dead peers, wrong kinds and types.
pub fn errors6_channels() -> Outcome {
    check(CHANNELS)
}
