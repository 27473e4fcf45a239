//! The 500-decky INI both benchmarks parse.

/// 4 sections of amount=100 plus 100 single deckies with explicit IPs: 500 deckies, with
/// persona subsections, a custom service and continuation lines along the way.
pub fn fleet_ini() -> String {
    let mut s = String::from(
        "[general]\nnet=10.20.0.0/16\ngw=10.20.0.1\ninterface=eth0\nmutate_interval=30m\n\n\
         [custom-myapp]\nbinary=registry.local/myapp:1.2\nexec=/app --port 8080\nports=8080\n\n",
    );
    let groups = [
        ("web", "archetype=web-server\n"),
        ("db", "archetype=database-server\nmutate_interval=1d\n"),
        ("ws", "archetype=windows-workstation\nnmap_os=windows\n"),
        ("misc", "mutate_interval=off\n"),
    ];
    for (name, body) in groups {
        s.push_str(&format!("[{name}]\namount=100\n{body}\n"));
    }
    s.push_str("[web.http]\nserver_header=nginx/1.24.0\nresponse_code=200\nfake_app=wordpress\n");
    s.push_str("extra_headers=X-Powered-By: PHP/8.1\n  X-Cache: HIT\n\n");
    s.push_str("[ws.rdp]\nnla=false\n\n");
    for i in 0..100 {
        s.push_str(&format!(
            "# explicit decky {i}\n[host-{i:03}]\nip=10.20.{}.{}\nservices=ssh,\n    http, myapp\n\
             [host-{i:03}.ssh]\nusers=root:toor,admin:admin{i}\nbanner=SSH-2.0-OpenSSH_9.2p1\n\n",
            100 + i / 200,
            i % 200 + 10,
        ));
    }
    s
}
