//! `conpot`: a PLC, after the conpot ICS honeypot: a Schneider Electric Modicon M340 with
//! Modbus/TCP (502), SNMP (161/udp) and its web server (80).
//!
//! Modbus: MBAP frames are checked strictly (protocol 0, length 2..=254) and anything else
//! gets the exception a real device sends, so scanners recognise it. Coils and registers
//! read back plausible process values; writes are `command` events (function, unit,
//! address, values) and are remembered for that connection only. Read Device
//! Identification (0x2B/0x0E) and Report Server ID name the device. SNMP is [`Snmp`] with
//! the PLC's identity; the web server shows the module's login page and captures form and
//! Basic logins, none of which succeed.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::event::Event;
use crate::limits::{Conn, Handler};
use crate::udp::Datagram;

use super::httpd::{self, App, Request, Response};
use super::snmp::{Profile, Snmp};

/// Most requests on one Modbus connection.
const MAX_REQUESTS: usize = 1000;
/// How long an incomplete frame may wait for the rest before it is answered as bad.
const PARTIAL_WAIT: Duration = Duration::from_millis(400);
/// Writes remembered per connection.
const OVERLAY_MAX: usize = 512;
/// Most values listed in a write event.
const VALUES_SHOWN: usize = 128;

const VENDOR: &str = "Schneider Electric";
const PRODUCT_CODE: &str = "BMX P34 2020";
const REVISION: &str = "v2.8";
const VENDOR_URL: &str = "http://www.schneider-electric.com";
const PRODUCT_NAME: &str = "Modicon M340";
const WEB_SERVER: &str = "Schneider-WEB/V2.1.4";

pub struct Conpot {
    snmp: Snmp,
    web: PlcWeb,
    app_name: String,
    started: Instant,
}

impl Conpot {
    pub fn new(cfg: &Config) -> Self {
        let app_name: String = cfg
            .hostname()
            .to_ascii_uppercase()
            .replace(['.', '-'], "_")
            .chars()
            .take(32)
            .collect();
        Conpot {
            snmp: Snmp::with_profile(cfg, Profile::ics()),
            web: PlcWeb {
                host: cfg.hostname().to_owned(),
            },
            app_name,
            started: Instant::now(),
        }
    }
}

// ---- Modbus ----

fn function_name(f: u8) -> &'static str {
    match f {
        0x01 => "read_coils",
        0x02 => "read_discrete_inputs",
        0x03 => "read_holding_registers",
        0x04 => "read_input_registers",
        0x05 => "write_single_coil",
        0x06 => "write_single_register",
        0x07 => "read_exception_status",
        0x08 => "diagnostics",
        0x0b => "get_comm_event_counter",
        0x0f => "write_multiple_coils",
        0x10 => "write_multiple_registers",
        0x11 => "report_server_id",
        0x16 => "mask_write_register",
        0x17 => "read_write_multiple_registers",
        0x2b => "read_device_identification",
        0x5a => "umas",
        _ => "unknown",
    }
}

/// What a connection wrote, so it reads its writes back.
#[derive(Default)]
struct Overlay {
    registers: HashMap<u16, u16>,
    coils: HashMap<u16, bool>,
}

impl Overlay {
    fn set_register(&mut self, addr: u16, v: u16) {
        if self.registers.len() < OVERLAY_MAX || self.registers.contains_key(&addr) {
            self.registers.insert(addr, v);
        }
    }

    fn set_coil(&mut self, addr: u16, v: bool) {
        if self.coils.len() < OVERLAY_MAX || self.coils.contains_key(&addr) {
            self.coils.insert(addr, v);
        }
    }
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// A Modbus exception PDU.
fn exception(function: u8, code: u8) -> Vec<u8> {
    vec![function | 0x80, code]
}

/// The full ADU: MBAP header (echoing transaction and protocol ids) and `pdu`.
fn adu(head: &[u8], unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + pdu.len());
    out.extend_from_slice(head.get(..4).unwrap_or(&[0, 0, 0, 0]));
    out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    out.push(unit);
    out.extend_from_slice(pdu);
    out
}

impl Conpot {
    fn register(&self, addr: u16, input: bool, overlay: &Overlay) -> u16 {
        if !input {
            if let Some(v) = overlay.registers.get(&addr) {
                return *v;
            }
        }
        let wobble = (self.started.elapsed().as_secs() % 7) as u16;
        match (input, addr) {
            // Process values: temperature x10, pressure in mbar, pump rpm, level %, setpoints.
            (_, 0) => 215 + wobble,
            (_, 1) => 1013,
            (_, 2) => 1450 + wobble * 3,
            (_, 3) => 67,
            (false, 4) => 220,
            (false, 5) => 80,
            (_, 6) => 1,
            (_, 7) => 0,
            _ => ((u32::from(addr) * 7919 + if input { 101 } else { 13 }) % 1000) as u16,
        }
    }

    fn coil(addr: u16, discrete: bool, overlay: &Overlay) -> bool {
        if !discrete {
            if let Some(v) = overlay.coils.get(&addr) {
                return *v;
            }
        }
        (u32::from(addr) * 31 + if discrete { 3 } else { 7 }) % 5 == 0
    }

    fn device_id(&self, data: &[u8]) -> Vec<u8> {
        let (Some(&code), Some(&start)) = (data.get(1), data.get(2)) else {
            return exception(0x2b, 0x03);
        };
        let objects: [(u8, &str); 7] = [
            (0, VENDOR),
            (1, PRODUCT_CODE),
            (2, REVISION),
            (3, VENDOR_URL),
            (4, PRODUCT_NAME),
            (5, PRODUCT_CODE),
            (6, &self.app_name),
        ];
        let range = match code {
            1 => 0..=2u8,
            2 | 3 => 0..=6u8,
            4 if start <= 6 => start..=start,
            4 => return exception(0x2b, 0x02),
            _ => return exception(0x2b, 0x03),
        };
        let first = if code != 4 && range.contains(&start) {
            start
        } else {
            *range.start()
        };
        let chosen: Vec<&(u8, &str)> = objects
            .iter()
            .filter(|(id, _)| range.contains(id) && *id >= first)
            .collect();
        let mut pdu = vec![0x2b, 0x0e, code, 0x82, 0x00, 0x00, chosen.len() as u8];
        for (id, value) in chosen {
            pdu.push(*id);
            pdu.push(value.len() as u8);
            pdu.extend_from_slice(value.as_bytes());
        }
        pdu
    }

    /// Answers one PDU (function code first); reports it.
    fn pdu(&self, conn: &Conn, unit: u8, pdu: &[u8], overlay: &mut Overlay) -> Vec<u8> {
        let Some(&f) = pdu.first() else {
            return exception(0, 0x01);
        };
        let data = &pdu[1..];
        let addr = u16_at(data, 0);
        let qty = u16_at(data, 2);
        let report_read = |addr: u16, qty: u16| {
            conn.emit(
                Event::request(
                    function_name(f),
                    format!("unit={unit} addr={addr} qty={qty}"),
                    "",
                )
                .field("function", f)
                .field("unit", unit)
                .field("address", addr)
                .field("quantity", qty),
            );
        };
        let report_write = |addr: u16, values: Vec<u64>| {
            let shown: Vec<u64> = values.iter().take(VALUES_SHOWN).copied().collect();
            let text = shown
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            conn.emit(
                Event::command(format!(
                    "{} unit={unit} addr={addr} values={text}",
                    function_name(f)
                ))
                .field("function", f)
                .field("unit", unit)
                .field("address", addr)
                .field("values", shown)
                .field("count", values.len() as u64),
            );
        };
        match f {
            0x01 | 0x02 => {
                let (Some(a), Some(q)) = (addr, qty) else {
                    return exception(f, 0x03);
                };
                report_read(a, q);
                if !(1..=2000).contains(&q) {
                    return exception(f, 0x03);
                }
                if u32::from(a) + u32::from(q) > 0x1_0000 {
                    return exception(f, 0x02);
                }
                let mut bits = vec![0u8; usize::from(q).div_ceil(8)];
                for i in 0..q {
                    if Self::coil(a.wrapping_add(i), f == 0x02, overlay) {
                        bits[usize::from(i / 8)] |= 1 << (i % 8);
                    }
                }
                let mut out = vec![f, bits.len() as u8];
                out.extend(bits);
                out
            }
            0x03 | 0x04 => {
                let (Some(a), Some(q)) = (addr, qty) else {
                    return exception(f, 0x03);
                };
                report_read(a, q);
                if !(1..=125).contains(&q) {
                    return exception(f, 0x03);
                }
                if u32::from(a) + u32::from(q) > 0x1_0000 {
                    return exception(f, 0x02);
                }
                let mut out = vec![f, (q * 2) as u8];
                for i in 0..q {
                    let v = self.register(a.wrapping_add(i), f == 0x04, overlay);
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out
            }
            0x05 => {
                let (Some(a), Some(v)) = (addr, qty) else {
                    return exception(f, 0x03);
                };
                report_write(a, vec![u64::from(v == 0xff00)]);
                if v != 0xff00 && v != 0 {
                    return exception(f, 0x03);
                }
                overlay.set_coil(a, v == 0xff00);
                pdu.to_vec()
            }
            0x06 => {
                let (Some(a), Some(v)) = (addr, qty) else {
                    return exception(f, 0x03);
                };
                report_write(a, vec![u64::from(v)]);
                overlay.set_register(a, v);
                pdu.to_vec()
            }
            0x0f => {
                let (Some(a), Some(q), Some(&count)) = (addr, qty, data.get(4)) else {
                    return exception(f, 0x03);
                };
                let bytes = data.get(5..).unwrap_or(&[]);
                let values: Vec<u64> = (0..q.min(0x7b0))
                    .map(|i| {
                        let byte = bytes.get(usize::from(i / 8)).copied().unwrap_or(0);
                        u64::from(byte >> (i % 8) & 1)
                    })
                    .collect();
                report_write(a, values.clone());
                if !(1..=0x7b0).contains(&q)
                    || usize::from(count) != usize::from(q).div_ceil(8)
                    || bytes.len() < usize::from(count)
                {
                    return exception(f, 0x03);
                }
                for (i, v) in values.iter().enumerate() {
                    overlay.set_coil(a.wrapping_add(i as u16), *v == 1);
                }
                let mut out = vec![f];
                out.extend_from_slice(&data[..4]);
                out
            }
            0x10 => {
                let (Some(a), Some(q), Some(&count)) = (addr, qty, data.get(4)) else {
                    return exception(f, 0x03);
                };
                let bytes = data.get(5..).unwrap_or(&[]);
                let values: Vec<u64> = bytes
                    .chunks_exact(2)
                    .take(usize::from(q.min(123)))
                    .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
                    .collect();
                report_write(a, values.clone());
                if !(1..=123).contains(&q)
                    || usize::from(count) != usize::from(q) * 2
                    || bytes.len() < usize::from(count)
                {
                    return exception(f, 0x03);
                }
                for (i, v) in values.iter().enumerate() {
                    overlay.set_register(a.wrapping_add(i as u16), *v as u16);
                }
                let mut out = vec![f];
                out.extend_from_slice(&data[..4]);
                out
            }
            0x16 => {
                let (Some(a), Some(and), Some(or)) = (addr, qty, u16_at(data, 4)) else {
                    return exception(f, 0x03);
                };
                report_write(a, vec![u64::from(and), u64::from(or)]);
                let cur = self.register(a, false, overlay);
                overlay.set_register(a, (cur & and) | (or & !and));
                pdu.to_vec()
            }
            0x17 => {
                let (Some(ra), Some(rq), Some(wa), Some(wq), Some(&count)) =
                    (addr, qty, u16_at(data, 4), u16_at(data, 6), data.get(8))
                else {
                    return exception(f, 0x03);
                };
                let bytes = data.get(9..).unwrap_or(&[]);
                let values: Vec<u64> = bytes
                    .chunks_exact(2)
                    .take(usize::from(wq.min(121)))
                    .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
                    .collect();
                report_write(wa, values.clone());
                if !(1..=125).contains(&rq)
                    || !(1..=121).contains(&wq)
                    || usize::from(count) != usize::from(wq) * 2
                    || bytes.len() < usize::from(count)
                {
                    return exception(f, 0x03);
                }
                for (i, v) in values.iter().enumerate() {
                    overlay.set_register(wa.wrapping_add(i as u16), *v as u16);
                }
                let mut out = vec![f, (rq * 2) as u8];
                for i in 0..rq {
                    let v = self.register(ra.wrapping_add(i), false, overlay);
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out
            }
            0x07 => {
                report_read(0, 0);
                vec![f, 0x00]
            }
            0x08 => {
                report_read(addr.unwrap_or(0), 0);
                // Return Query Data and the other echoing sub-functions.
                pdu.to_vec()
            }
            0x0b => {
                report_read(0, 0);
                vec![f, 0x00, 0x00, 0x01, 0x2c]
            }
            0x11 => {
                report_read(0, 0);
                let text = format!("{PRODUCT_CODE} {REVISION}");
                let mut out = vec![f, (text.len() + 2) as u8, 0x0e, 0xff];
                out.extend_from_slice(text.as_bytes());
                out
            }
            0x2b if data.first() == Some(&0x0e) => {
                report_read(u16::from(data.get(2).copied().unwrap_or(0)), 0);
                self.device_id(data)
            }
            _ => {
                conn.emit(
                    Event::request(function_name(f), format!("unit={unit}"), "")
                        .field("function", f)
                        .field("unit", unit)
                        .payload(data),
                );
                exception(f, 0x01)
            }
        }
    }

    async fn modbus(&self, conn: &mut Conn) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::new();
        let mut overlay = Overlay::default();
        for _ in 0..MAX_REQUESTS {
            // A whole, valid frame: answer it.
            if buf.len() >= 8 {
                let proto = u16_at(&buf, 2).unwrap_or(1);
                let len = usize::from(u16_at(&buf, 4).unwrap_or(0));
                let unit = buf[6];
                if proto != 0 || !(2..=254).contains(&len) {
                    // Not Modbus/TCP (an HTTP or TLS probe...): a device answers with an
                    // exception for whatever function byte it finds, then drops the rest.
                    let f = buf[7];
                    conn.emit(
                        Event::request("malformed", "", "")
                            .field("protocol", "modbus")
                            .payload(&buf),
                    );
                    conn.write_all(&adu(&buf, unit, &exception(f, 0x01)))
                        .await?;
                    buf.clear();
                    continue;
                }
                if buf.len() >= 6 + len {
                    let frame: Vec<u8> = buf.drain(..6 + len).collect();
                    let reply = self.pdu(conn, unit, &frame[7..], &mut overlay);
                    conn.write_all(&adu(&frame, unit, &reply)).await?;
                    continue;
                }
            }
            let more = if buf.is_empty() {
                conn.read_some().await?
            } else {
                match tokio::time::timeout(PARTIAL_WAIT, conn.read_some()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        // An incomplete frame that stays so: answer what there is.
                        let unit = buf.get(6).copied().unwrap_or(0);
                        let f = buf.get(7).copied().unwrap_or(0);
                        conn.emit(
                            Event::request("malformed", "", "")
                                .field("protocol", "modbus")
                                .payload(&buf),
                        );
                        let mut head = buf.clone();
                        head.resize(4, 0);
                        conn.write_all(&adu(&head, unit, &exception(f, 0x01)))
                            .await?;
                        buf.clear();
                        continue;
                    }
                }
            };
            if more.is_empty() {
                return Ok(());
            }
            buf.extend_from_slice(&more);
        }
        Ok(())
    }
}

// ---- Web ----

struct PlcWeb {
    host: String,
}

fn login_page(host: &str, error: bool) -> String {
    let error = if error {
        "<p class=\"err\">Invalid user name or password.</p>"
    } else {
        ""
    };
    let host = httpd::escape_html(host);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{PRODUCT_NAME} - {host}</title>\n<style>body{{font-family:Arial,sans-serif;background:#f2f2f2}}.box{{width:340px;margin:80px auto;background:#fff;border-top:4px solid #3dcd58;padding:24px}}.err{{color:#c00}}</style></head>\n<body><div class=\"box\"><h2>{VENDOR}</h2><p>{PRODUCT_NAME} {PRODUCT_CODE} &mdash; Web Server</p>{error}\n<form method=\"post\" action=\"/login.htm\"><p>User name<br><input name=\"username\" size=\"24\"></p><p>Password<br><input name=\"password\" type=\"password\" size=\"24\"></p><p><input type=\"submit\" value=\"Log in\"></p></form>\n<p style=\"font-size:11px;color:#888\">Firmware {REVISION} &middot; &copy; {VENDOR}</p></div></body></html>\n"
    )
}

impl App for PlcWeb {
    fn respond(&self, req: &Request, conn: &Conn) -> Response {
        match (req.method.as_str(), req.path()) {
            ("POST", _) => {
                let form = req.form();
                let find = |names: &[&str]| {
                    form.iter()
                        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                        .map(|(_, v)| v.clone())
                };
                let pass = find(&["password", "pass", "pwd", "passwd"]);
                if let Some(pass) = pass {
                    conn.emit(
                        Event::auth(
                            find(&["username", "user", "login"]).unwrap_or_default(),
                            pass,
                        )
                        .field("method", "form")
                        .text("path", &req.target),
                    );
                }
                Response::html(200, login_page(&self.host, true))
            }
            (_, "/" | "/index.htm" | "/index.html" | "/login.htm") => {
                Response::html(200, login_page(&self.host, false))
            }
            (_, p) if p.starts_with("/secure") || p.starts_with("/admin") => {
                Response::html(401, httpd::error_page(Some(WEB_SERVER), 401))
                    .header("WWW-Authenticate", "Basic realm=\"Schneider Web\"")
            }
            _ => Response::html(404, httpd::error_page(Some(WEB_SERVER), 404)),
        }
    }

    fn server_header(&self) -> Option<&str> {
        Some(WEB_SERVER)
    }
}

impl Handler for Conpot {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        match conn.port {
            2 => httpd::serve(&self.web, &mut conn).await,
            _ => self.modbus(&mut conn).await,
        }
    }

    fn datagram(&self, dg: &Datagram<'_>) -> Vec<Vec<u8>> {
        self.snmp
            .answer(dg.data, dg.budget, |e| dg.emit(e.field("protocol", "snmp")))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config("plc", "pump-stn-3")
    }

    fn frame(trans: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
        let mut f = trans.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        f.push(unit);
        f.extend_from_slice(pdu);
        f
    }

    #[tokio::test]
    async fn registers_coils_writes_and_device_identification() {
        let t = testkit::start("conpot", cfg()).await;
        let mut c = t.connect(0).await;
        let mut ev = t.events();

        c.send(&frame(1, 1, &[0x03, 0, 3, 0, 2])).await;
        assert_eq!(
            c.read_exact(13).await,
            frame(1, 1, &[0x03, 4, 0, 67, 0, 220])
        );
        let e = ev.expect("request").await;
        assert_eq!(e["service"], "conpot");
        assert_eq!(e["method"], "read_holding_registers");
        assert_eq!(e["address"], 3);
        assert_eq!(e["quantity"], 2);

        // Write, then read back on the same connection.
        c.send(&frame(2, 1, &[0x10, 0, 4, 0, 2, 4, 0x01, 0x2c, 0xff, 0xff]))
            .await;
        assert_eq!(c.read_exact(12).await, frame(2, 1, &[0x10, 0, 4, 0, 2]));
        let w = ev.expect("command").await;
        assert_eq!(w["function"], 16);
        assert_eq!(w["address"], 4);
        assert_eq!(w["values"], serde_json::json!([300, 65535]));
        assert_eq!(
            w["command"],
            "write_multiple_registers unit=1 addr=4 values=300,65535"
        );
        c.send(&frame(3, 1, &[0x03, 0, 4, 0, 2])).await;
        assert_eq!(
            c.read_exact(13).await,
            frame(3, 1, &[0x03, 4, 0x01, 0x2c, 0xff, 0xff])
        );
        c.send(&frame(4, 1, &[0x05, 0, 9, 0xff, 0x00])).await;
        assert_eq!(
            c.read_exact(12).await,
            frame(4, 1, &[0x05, 0, 9, 0xff, 0x00])
        );
        assert_eq!(ev.expect("command").await["values"], serde_json::json!([1]));

        // Read Device Identification, as nmap's modbus-discover asks.
        c.send(&frame(5, 1, &[0x2b, 0x0e, 0x01, 0x00])).await;
        let head = c.read_exact(7).await;
        let len = usize::from(u16::from_be_bytes([head[4], head[5]])) - 1;
        let pdu = c.read_exact(len).await;
        assert_eq!(&pdu[..7], &[0x2b, 0x0e, 0x01, 0x82, 0, 0, 3]);
        let text = String::from_utf8_lossy(&pdu);
        assert!(text.contains("Schneider Electric") && text.contains("BMX P34 2020"));

        // Bad quantity, unknown function.
        c.send(&frame(6, 1, &[0x03, 0, 0, 0x10, 0])).await;
        assert_eq!(c.read_exact(9).await, frame(6, 1, &[0x83, 0x03]));
        c.send(&frame(7, 1, &[0x5a, 0x00, 0x02])).await;
        assert_eq!(c.read_exact(9).await, frame(7, 1, &[0xda, 0x01]));
    }

    #[tokio::test]
    async fn non_modbus_probes_get_the_exceptions_nmap_matches() {
        let t = testkit::start("conpot", cfg()).await;
        // nmap's GetRequest probe.
        let mut c = t.connect(0).await;
        c.send(b"GET / HTTP/1.0\r\n\r\n").await;
        assert_eq!(c.read_exact(9).await, b"GET \0\x03H\xd4\x01");
        // nmap's GenericLines probe: too short to be a frame; answered after a pause.
        let mut c = t.connect(0).await;
        c.send(b"\r\n\r\n").await;
        assert_eq!(c.read_exact(9).await, b"\r\n\r\n\0\x03\0\x80\x01");
    }

    #[tokio::test]
    async fn snmp_and_web_speak_for_the_plc() {
        let t = testkit::start("conpot", cfg()).await;
        let c = t.udp(1).await;
        let probe = b"0\x82\0/\x02\x01\0\x04\x06public\xa0\x82\0\x20\x02\x04\x4c\x33\xa7\x56\x02\x01\0\x02\x01\0\x30\x82\0\x10\x30\x82\0\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\0\x05\0";
        let reply = c.exchange(probe).await;
        assert!(String::from_utf8_lossy(&reply).contains("Schneider Electric BMX NOE 0100"));
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["method"].as_str(), a["protocol"].as_str()),
            (Some("community"), Some("snmp"))
        );

        let mut w = t.connect(2).await;
        w.send(b"GET / HTTP/1.1\r\nHost: plc\r\n\r\n").await;
        let page = w.read_http_response().await;
        assert!(page.contains("Server: Schneider-WEB/V2.1.4\r\n"));
        assert!(page.contains("action=\"/login.htm\""));
        let body = "username=USER&password=USER";
        w.send(format!("POST /login.htm HTTP/1.1\r\nHost: plc\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await;
        assert!(w
            .read_http_response()
            .await
            .contains("Invalid user name or password."));
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("USER"), Some("USER"))
        );
        assert_eq!(a["method"], "form");
    }

    proptest! {
        #[test]
        fn pdus_never_panic(pdu in proptest::collection::vec(any::<u8>(), 0..252), f in any::<u8>()) {
            let conpot = Conpot::new(&cfg());
            let (em, _rx) = crate::event::Emitter::channel("d");
            let session = crate::limits::Session::new("conpot", "127.0.0.1:1".parse().unwrap(), em);
            let (_a, b) = tokio::io::duplex(64);
            let conn = Conn::new(Box::new(b), session, testkit::test_limits());
            let mut overlay = Overlay::default();
            let mut p = vec![f];
            p.extend(pdu);
            let out = conpot.pdu(&conn, 1, &p, &mut overlay);
            prop_assert!(!out.is_empty() && out.len() <= 253);
        }
    }
}
