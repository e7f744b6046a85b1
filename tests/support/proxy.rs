//! A loopback TCP proxy a test controls: it forwards to a server until told
//! to cut every open connection, as a network drop would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    cuts: watch::Sender<u64>,
}

impl Proxy {
    /// Starts forwarding connections on a fresh port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let (cuts, _) = watch::channel(0u64);
        let (target, cut_signal) = (upstream.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let target = *target.lock().unwrap();
                let mut cut = cut_signal.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            upstream,
            cuts,
        }
    }

    /// Drops every connection open now; new ones still go through.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Sends new connections to another server from now on.
    pub fn redirect(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }
}
