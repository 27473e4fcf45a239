//! `http` and `https`: a web server with an optional fake application login page
//! (WordPress, phpMyAdmin, Tomcat manager, Jenkins). Every request is reported; Basic
//! credentials (in [`super::httpd`]) and form logins are captured; every login fails.

use std::io;

use crate::config::{Config, Os};
use crate::event::Event;
use crate::limits::{Conn, Handler};

use super::httpd::{self, escape_html, App, Request, Response};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeApp {
    None,
    WordPress,
    PhpMyAdmin,
    Tomcat,
    Jenkins,
}

impl FakeApp {
    fn parse(s: &str) -> Option<FakeApp> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Some(FakeApp::None),
            "wordpress" => Some(FakeApp::WordPress),
            "phpmyadmin" => Some(FakeApp::PhpMyAdmin),
            "tomcat" => Some(FakeApp::Tomcat),
            "jenkins" => Some(FakeApp::Jenkins),
            _ => None,
        }
    }
}

pub struct Http {
    app: FakeApp,
    server: Option<String>,
    response_code: u16,
    custom_body: Option<String>,
    extra_headers: Vec<(String, String)>,
    hostname: String,
}

const TOMCAT_VERSION: &str = "9.0.83";
const JENKINS_VERSION: &str = "2.440.3";
const WORDPRESS_VERSION: &str = "6.4.3";

impl Http {
    pub fn new(cfg: &Config) -> Self {
        let p = &cfg.persona;
        let app = p
            .str("fake_app")
            .and_then(FakeApp::parse)
            .unwrap_or(FakeApp::None);
        let server = match p.string("server_header") {
            Some(s) => Some(s.replace(['\r', '\n'], " ")),
            None => default_server(cfg.os, app).map(str::to_owned),
        };
        let response_code = p
            .u64("response_code")
            .filter(|c| (100..=599).contains(c))
            .map(|c| c as u16)
            .unwrap_or(200);
        let mut extra_headers = httpd::parse_extra_headers(p.get("extra_headers"));
        if matches!(app, FakeApp::WordPress | FakeApp::PhpMyAdmin)
            && !extra_headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("x-powered-by"))
        {
            extra_headers.push(("X-Powered-By".into(), "PHP/8.1.2-1ubuntu2.14".into()));
        }
        Http {
            app,
            server,
            response_code,
            custom_body: p.string("custom_body"),
            extra_headers,
            hostname: cfg.hostname().to_owned(),
        }
    }

    fn not_found(&self) -> Response {
        match self.app {
            FakeApp::Tomcat => Response::html(404, tomcat_error(404, "Not Found")),
            _ => Response::html(404, httpd::error_page(self.server.as_deref(), 404)),
        }
    }

    fn landing(&self) -> Response {
        let body = match &self.custom_body {
            Some(b) => b.clone(),
            None => default_page(self.server.as_deref().unwrap_or(""), &self.hostname),
        };
        let resp = Response::html(self.response_code, body);
        if self.response_code == 401 {
            resp.header("WWW-Authenticate", "Basic realm=\"Restricted\"")
        } else {
            resp
        }
    }

    fn route(&self, req: &Request, conn: &Conn) -> Response {
        let path = req.path();
        let lower = path.to_ascii_lowercase();
        match self.app {
            FakeApp::None => match lower.as_str() {
                "/" | "/index.html" | "/index.htm" => self.landing(),
                _ => self.not_found(),
            },
            FakeApp::WordPress => self.wordpress(req, conn, &lower),
            FakeApp::PhpMyAdmin => self.phpmyadmin(req, conn, &lower),
            FakeApp::Tomcat => self.tomcat(&lower),
            FakeApp::Jenkins => self.jenkins(req, conn, &lower),
        }
    }

    fn base_url(&self, req: &Request) -> String {
        let host = req
            .header("host")
            .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()) && h.len() < 256)
            .unwrap_or(&self.hostname);
        let scheme = if req.tls { "https" } else { "http" };
        format!("{scheme}://{host}")
    }

    fn wordpress(&self, req: &Request, conn: &Conn, path: &str) -> Response {
        let base = self.base_url(req);
        match path {
            "/" | "/index.php" => match &self.custom_body {
                Some(_) => self.landing(),
                None => Response::html(200, wordpress_home(&base)).header(
                    "Link",
                    format!("<{base}/wp-json/>; rel=\"https://api.w.org/\""),
                ),
            },
            "/wp-login.php" => {
                let error = match req.method.as_str() {
                    "POST" => {
                        let user = capture_form(conn, req, "log", "pwd");
                        Some(format!(
                            "<strong>Error:</strong> The password you entered for the username <strong>{}</strong> is incorrect. <a href=\"{base}/wp-login.php?action=lostpassword\">Lost your password?</a>",
                            escape_html(&user.unwrap_or_default())
                        ))
                    }
                    _ => None,
                };
                Response::html(200, wordpress_login(&base, error.as_deref()))
                    .header(
                        "Set-Cookie",
                        "wordpress_test_cookie=WP%20Cookie%20check; path=/; HttpOnly",
                    )
                    .header("Cache-Control", "no-cache, must-revalidate, max-age=0")
            }
            "/xmlrpc.php" => {
                if req.method != "POST" {
                    return Response::text(405, "XML-RPC server accepts POST requests only.");
                }
                capture_xmlrpc(conn, &req.body);
                Response::new(200, "text/xml; charset=UTF-8", XMLRPC_FAULT)
            }
            "/robots.txt" => Response::text(
                200,
                "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n",
            ),
            p if p == "/wp-admin" || p.starts_with("/wp-admin/") => {
                let back = httpd::percent_encode(&format!("{base}{}", req.path()));
                Response::redirect(
                    302,
                    &format!("{base}/wp-login.php?redirect_to={back}&reauth=1"),
                )
            }
            _ => self.not_found(),
        }
    }

    fn phpmyadmin(&self, req: &Request, conn: &Conn, path: &str) -> Response {
        let path = path.strip_prefix("/phpmyadmin").unwrap_or(path);
        match path {
            "" | "/" | "/index.php" => {
                let error = match req.method.as_str() {
                    "POST" => capture_form(conn, req, "pma_username", "pma_password").map(|user| {
                        format!(
                            "mysqli::real_connect(): (HY000/1045): Access denied for user '{}'@'localhost' (using password: YES)",
                            escape_html(&user)
                        )
                    }),
                    _ => None,
                };
                Response::html(200, phpmyadmin_login(error.as_deref()))
                    .header(
                        "Set-Cookie",
                        "phpMyAdmin=8f1c2b7de4a5; path=/phpmyadmin/; HttpOnly",
                    )
                    .header("X-Frame-Options", "DENY")
            }
            _ => self.not_found(),
        }
    }

    fn tomcat(&self, path: &str) -> Response {
        match path {
            "/" | "/index.jsp" => match &self.custom_body {
                Some(_) => self.landing(),
                None => Response::html(200, tomcat_home()),
            },
            p if p.starts_with("/manager") || p.starts_with("/host-manager") => {
                let realm = if p.starts_with("/host-manager") {
                    "Tomcat Host Manager Application"
                } else {
                    "Tomcat Manager Application"
                };
                Response::html(401, tomcat_401())
                    .header("WWW-Authenticate", format!("Basic realm=\"{realm}\""))
            }
            _ => self.not_found(),
        }
    }

    fn jenkins(&self, req: &Request, conn: &Conn, path: &str) -> Response {
        let jenkins = |resp: Response| {
            resp.header("X-Content-Type-Options", "nosniff")
                .header("X-Jenkins", JENKINS_VERSION)
                .header("X-Hudson", "1.395")
                .header("X-Jenkins-Session", "6a1f3c2e")
        };
        match path {
            "/login" => jenkins(Response::html(200, jenkins_login(false))),
            "/loginerror" => jenkins(Response::html(401, jenkins_login(true))),
            "/j_spring_security_check" | "/j_acegi_security_check" if req.method == "POST" => {
                capture_form(conn, req, "j_username", "j_password");
                jenkins(Response::redirect(302, "/loginError"))
            }
            _ => jenkins(Response::html(403, JENKINS_403)),
        }
    }
}

impl App for Http {
    fn respond(&self, req: &Request, conn: &Conn) -> Response {
        // Any login form posted anywhere counts, whatever page the app shows.
        if req.method == "POST" && self.app == FakeApp::None {
            capture_any_form(conn, req);
        }
        self.route(req, conn)
    }

    fn server_header(&self) -> Option<&str> {
        self.server.as_deref()
    }

    fn extra_headers(&self) -> &[(String, String)] {
        &self.extra_headers
    }
}

impl Handler for Http {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        httpd::serve(self, &mut conn).await
    }
}

/// Reports the login in `user_field`/`pass_field`; returns the username if one was sent.
fn capture_form(conn: &Conn, req: &Request, user_field: &str, pass_field: &str) -> Option<String> {
    let form = req.form();
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let user = get(user_field);
    let pass = get(pass_field);
    if user.is_none() && pass.is_none() {
        return None;
    }
    conn.emit(
        Event::auth(user.clone().unwrap_or_default(), pass.unwrap_or_default())
            .field("method", "form")
            .text("path", &req.target),
    );
    user
}

const USER_FIELDS: &[&str] = &[
    "username",
    "user",
    "login",
    "log",
    "email",
    "uname",
    "user_name",
    "userid",
    "name",
];
const PASS_FIELDS: &[&str] = &["password", "pass", "pwd", "passwd", "passwort", "secret"];

fn capture_any_form(conn: &Conn, req: &Request) {
    let form = req.form();
    let find = |names: &[&str]| {
        form.iter()
            .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(_, v)| v.clone())
    };
    if let Some(pass) = find(PASS_FIELDS) {
        conn.emit(
            Event::auth(find(USER_FIELDS).unwrap_or_default(), pass)
                .field("method", "form")
                .text("path", &req.target),
        );
    }
}

/// XML-RPC brute force (`wp.getUsersBlogs`, also batched in `system.multicall`): every
/// `wp.*` method name followed by two strings is a username and password.
fn capture_xmlrpc(conn: &Conn, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let method = between(&text, "<methodName>", "</methodName>").unwrap_or("");
    let strings: Vec<&str> = all_between(&text, "<string>", "</string>", 300);
    let mut reported = 0;
    if method.starts_with("wp.") {
        if let [user, pass, ..] = strings.as_slice() {
            conn.emit(Event::auth(*user, *pass).field("method", "xmlrpc"));
        }
        return;
    }
    // In a multicall the strings run: method name, username, password, ...
    let mut i = 0;
    while i + 2 < strings.len() && reported < 20 {
        if strings[i].starts_with("wp.") {
            conn.emit(Event::auth(strings[i + 1], strings[i + 2]).field("method", "xmlrpc"));
            reported += 1;
            i += 3;
        } else {
            i += 1;
        }
    }
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let len = s[start..].find(close)?;
    Some(s[start..start + len].trim())
}

fn all_between<'a>(s: &'a str, open: &str, close: &str, max: usize) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = s;
    while out.len() < max {
        let Some(start) = rest.find(open) else { break };
        let after = &rest[start + open.len()..];
        let Some(len) = after.find(close) else { break };
        out.push(&after[..len]);
        rest = &after[len + close.len()..];
    }
    out
}

fn default_server(os: Os, app: FakeApp) -> Option<&'static str> {
    match app {
        FakeApp::Tomcat => None,
        FakeApp::Jenkins => Some("Jetty(10.0.20)"),
        FakeApp::WordPress | FakeApp::PhpMyAdmin => Some(match os {
            Os::Windows => "Microsoft-IIS/10.0",
            Os::Bsd => "Apache/2.4.58 (FreeBSD)",
            _ => "Apache/2.4.52 (Ubuntu)",
        }),
        FakeApp::None => Some(match os {
            Os::Linux => "nginx/1.18.0 (Ubuntu)",
            Os::Windows => "Microsoft-IIS/10.0",
            Os::Bsd => "nginx/1.24.0",
            Os::Embedded => "lighttpd/1.4.59",
            Os::Cisco => "cisco-IOS",
        }),
    }
}

fn default_page(server: &str, hostname: &str) -> String {
    if server.starts_with("nginx") {
        NGINX_WELCOME.to_owned()
    } else if server.starts_with("Apache") {
        APACHE_WELCOME.to_owned()
    } else if server.starts_with("Microsoft-IIS") {
        IIS_WELCOME.to_owned()
    } else {
        format!(
            "<!DOCTYPE html>\n<html><head><title>{0}</title></head>\n<body><h2>{0}</h2><p>Device management interface. Please log in.</p>\n<form method=\"post\" action=\"/login\"><input name=\"username\"/><input type=\"password\" name=\"password\"/><input type=\"submit\" value=\"Login\"/></form></body></html>\n",
            escape_html(hostname)
        )
    }
}

const NGINX_WELCOME: &str = "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\n    body {\n        width: 35em;\n        margin: 0 auto;\n        font-family: Tahoma, Verdana, Arial, sans-serif;\n    }\n</style>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\nworking. Further configuration is required.</p>\n\n<p>For online documentation and support please refer to\n<a href=\"http://nginx.org/\">nginx.org</a>.<br/>\nCommercial support is available at\n<a href=\"http://nginx.com/\">nginx.com</a>.</p>\n\n<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n";

const APACHE_WELCOME: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\n  <head>\n    <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n    <title>Apache2 Ubuntu Default Page: It works</title>\n  </head>\n  <body>\n    <div class=\"main_page\">\n      <div class=\"page_header floating_element\">\n        <span class=\"floating_element\">Apache2 Ubuntu Default Page</span>\n      </div>\n      <div class=\"section_header\"><div id=\"about\"></div>It works!</div>\n      <p>This is the default welcome page used to test the correct operation of the Apache2 server after installation on Ubuntu systems.\n      You should <b>replace this file</b> (located at <tt>/var/www/html/index.html</tt>) before continuing to operate your HTTP server.</p>\n    </div>\n  </body>\n</html>\n";

const IIS_WELCOME: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\" />\r\n<title>IIS Windows Server</title>\r\n<style type=\"text/css\">\r\n<!--\r\nbody {\r\n\tcolor:#000000;\r\n\tbackground-color:#0072C6;\r\n\tmargin:0;\r\n}\r\n-->\r\n</style>\r\n</head>\r\n<body>\r\n<div id=\"container\">\r\n<a href=\"http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409\"><img src=\"iisstart.png\" alt=\"IIS\" width=\"960\" height=\"600\" /></a>\r\n</div>\r\n</body>\r\n</html>";

fn wordpress_home(base: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta charset=\"UTF-8\" />\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n<meta name='robots' content='max-image-preview:large' />\n<title>Company Blog &#8211; Just another WordPress site</title>\n<link rel=\"alternate\" type=\"application/rss+xml\" title=\"Company Blog &raquo; Feed\" href=\"{base}/feed/\" />\n<link rel='stylesheet' id='wp-block-library-css' href='{base}/wp-includes/css/dist/block-library/style.min.css?ver={WORDPRESS_VERSION}' media='all' />\n<link rel=\"https://api.w.org/\" href=\"{base}/wp-json/\" />\n<link rel=\"EditURI\" type=\"application/rsd+xml\" title=\"RSD\" href=\"{base}/xmlrpc.php?rsd\" />\n<meta name=\"generator\" content=\"WordPress {WORDPRESS_VERSION}\" />\n</head>\n<body class=\"home blog wp-embed-responsive\">\n<div class=\"wp-site-blocks\">\n<header><h1 class=\"wp-block-site-title\"><a href=\"{base}\" rel=\"home\">Company Blog</a></h1></header>\n<main><h2 class=\"wp-block-post-title\"><a href=\"{base}/?p=1\">Hello world!</a></h2>\n<p>Welcome to WordPress. This is your first post. Edit or delete it, then start writing!</p></main>\n<footer><p><a href=\"{base}/wp-login.php\">Log in</a></p><p>Proudly powered by <a href=\"https://wordpress.org\">WordPress</a></p></footer>\n</div>\n</body>\n</html>\n"
    )
}

fn wordpress_login(base: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!("<div id=\"login_error\" class=\"notice notice-error\"><p>{e}</p></div>\n")
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n<title>Log In &lsaquo; Company Blog &#8212; WordPress</title>\n<meta name='robots' content='max-image-preview:large, noindex, noarchive' />\n<link rel='stylesheet' id='login-css' href='{base}/wp-admin/css/login.min.css?ver={WORDPRESS_VERSION}' media='all' />\n</head>\n<body class=\"login no-js login-action-login wp-core-ui locale-en-us\">\n<div id=\"login\">\n<h1><a href=\"https://wordpress.org/\">Powered by WordPress</a></h1>\n{error}<form name=\"loginform\" id=\"loginform\" action=\"{base}/wp-login.php\" method=\"post\">\n<p><label for=\"user_login\">Username or Email Address</label>\n<input type=\"text\" name=\"log\" id=\"user_login\" class=\"input\" value=\"\" size=\"20\" autocapitalize=\"off\" autocomplete=\"username\" required=\"required\" /></p>\n<div class=\"user-pass-wrap\"><label for=\"user_pass\">Password</label>\n<div class=\"wp-pwd\"><input type=\"password\" name=\"pwd\" id=\"user_pass\" class=\"input password-input\" value=\"\" size=\"20\" autocomplete=\"current-password\" spellcheck=\"false\" required=\"required\" /></div></div>\n<p class=\"forgetmenot\"><input name=\"rememberme\" type=\"checkbox\" id=\"rememberme\" value=\"forever\" /> <label for=\"rememberme\">Remember Me</label></p>\n<p class=\"submit\"><input type=\"submit\" name=\"wp-submit\" id=\"wp-submit\" class=\"button button-primary button-large\" value=\"Log In\" />\n<input type=\"hidden\" name=\"redirect_to\" value=\"{base}/wp-admin/\" />\n<input type=\"hidden\" name=\"testcookie\" value=\"1\" /></p>\n</form>\n<p id=\"nav\"><a href=\"{base}/wp-login.php?action=lostpassword\">Lost your password?</a></p>\n</div>\n</body>\n</html>\n"
    )
}

const XMLRPC_FAULT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n  <fault>\n    <value>\n      <struct>\n        <member>\n          <name>faultCode</name>\n          <value><int>403</int></value>\n        </member>\n        <member>\n          <name>faultString</name>\n          <value><string>Incorrect username or password.</string></value>\n        </member>\n      </struct>\n    </value>\n  </fault>\n</methodResponse>\n";

fn phpmyadmin_login(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<div class=\"alert alert-danger\" role=\"alert\"><img src=\"themes/dot.gif\" title=\"\" alt=\"\" class=\"icon ic_s_error\"> {e}</div>\n"))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE HTML>\n<html lang=\"en\" dir=\"ltr\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex,nofollow,notranslate\">\n<meta name=\"google\" content=\"notranslate\">\n<title>phpMyAdmin</title>\n<link rel=\"stylesheet\" type=\"text/css\" href=\"./themes/pmahomme/css/theme.css?v=5.1.1deb5ubuntu1\">\n</head>\n<body id=\"loginform\">\n<div class=\"container\">\n<a href=\"./url.php?url=https%3A%2F%2Fwww.phpmyadmin.net%2F\" target=\"_blank\" rel=\"noopener noreferrer\" class=\"logo\"><img src=\"./themes/pmahomme/img/logo_right.png\" id=\"imLogo\" name=\"imLogo\" alt=\"phpMyAdmin\" border=\"0\"></a>\n<h1>Welcome to <bdo dir=\"ltr\" lang=\"en\">phpMyAdmin</bdo></h1>\n{error}<form method=\"post\" id=\"login_form\" action=\"index.php?route=/\" name=\"login_form\" class=\"disableAjax hide js-show\">\n<fieldset>\n<legend>Log in</legend>\n<div class=\"item\"><label for=\"input_username\">Username:</label><input type=\"text\" name=\"pma_username\" id=\"input_username\" value=\"\" size=\"24\" class=\"textfield\" autocomplete=\"username\"></div>\n<div class=\"item\"><label for=\"input_password\">Password:</label><input type=\"password\" name=\"pma_password\" id=\"input_password\" value=\"\" size=\"24\" class=\"textfield\" autocomplete=\"current-password\"></div>\n<input type=\"hidden\" name=\"server\" value=\"1\">\n</fieldset>\n<fieldset class=\"tblFooters\"><input class=\"btn btn-primary\" value=\"Go\" type=\"submit\" id=\"input_go\"><input type=\"hidden\" name=\"route\" value=\"/\"><input type=\"hidden\" name=\"token\" value=\"3c5f7a2b4d6e8f01\"></fieldset>\n</form>\n</div>\n</body>\n</html>\n"
    )
}

fn tomcat_home() -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"UTF-8\" />\n        <title>Apache Tomcat/{TOMCAT_VERSION}</title>\n        <link href=\"favicon.ico\" rel=\"icon\" type=\"image/x-icon\" />\n        <link href=\"tomcat.css\" rel=\"stylesheet\" type=\"text/css\" />\n    </head>\n    <body>\n        <div id=\"wrapper\">\n            <div id=\"navigation\" class=\"curved container\">\n                <span id=\"nav-home\"><a href=\"https://tomcat.apache.org/\">Home</a></span>\n                <span id=\"nav-hosts\"><a href=\"/docs/\">Documentation</a></span>\n                <span id=\"nav-config\"><a href=\"/docs/config/\">Configuration</a></span>\n                <br class=\"separator\" />\n            </div>\n            <div id=\"asf-box\">\n                <h1>Apache Tomcat/{TOMCAT_VERSION}</h1>\n            </div>\n            <div id=\"congrats\" class=\"curved container\">\n                <h2>If you're seeing this, you've successfully installed Tomcat. Congratulations!</h2>\n            </div>\n            <div id=\"actions\">\n                <div class=\"button\"><a class=\"container shadow\" href=\"/manager/status\"><span>Server Status</span></a></div>\n                <div class=\"button\"><a class=\"container shadow\" href=\"/manager/html\"><span>Manager App</span></a></div>\n                <div class=\"button\"><a class=\"container shadow\" href=\"/host-manager/html\"><span>Host Manager</span></a></div>\n            </div>\n        </div>\n    </body>\n</html>\n"
    )
}

fn tomcat_error(status: u16, reason: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><title>HTTP Status {status} \u{2013} {reason}</title><style type=\"text/css\">body {{font-family:Tahoma,Arial,sans-serif;}} h1 {{font-size:22px;}}</style></head><body><h1>HTTP Status {status} \u{2013} {reason}</h1><hr class=\"line\" /><p><b>Type</b> Status Report</p><p><b>Description</b> The origin server did not find a current representation for the target resource or is not willing to disclose that one exists.</p><hr class=\"line\" /><h3>Apache Tomcat/{TOMCAT_VERSION}</h3></body></html>"
    )
}

fn tomcat_401() -> String {
    "<!doctype html><html lang=\"en\"><head><title>401 Unauthorized</title></head><body><h1>401 Unauthorized</h1><p>You are not authorized to view this page. If you have not changed any configuration files, please examine the file <tt>conf/tomcat-users.xml</tt> in your installation. That file must contain the credentials to let you use this webapp.</p><p>For example, to add the <tt>manager-gui</tt> role to a user named <tt>tomcat</tt> with a password of <tt>s3cret</tt>, add the following to the config file listed above.</p><pre>&lt;role rolename=\"manager-gui\"/&gt;\n&lt;user username=\"tomcat\" password=\"s3cret\" roles=\"manager-gui\"/&gt;\n</pre></body></html>".to_owned()
}

const JENKINS_403: &str = "<html><head><meta http-equiv='refresh' content='1;url=/login?from=%2F'/><script>window.location.replace('/login?from=%2F');</script></head><body style='background-color:white; color:white;'>\n\n\nAuthentication required\n<!--\n-->\n\n</body></html>\n";

fn jenkins_login(failed: bool) -> String {
    let error = if failed {
        "<div class=\"app-sign-in-register__error\">Invalid username or password</div>"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html><html class=\"\"><head resURL=\"/static/6a1f3c2e\" data-rooturl=\"\" data-resurl=\"/static/6a1f3c2e\" data-imagesurl=\"/static/6a1f3c2e/images\"><title>Sign in [Jenkins]</title><meta name=\"ROBOTS\" content=\"NOFOLLOW\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"stylesheet\" href=\"/static/6a1f3c2e/jsbundles/simple-page.css\" type=\"text/css\"></head><body><div class=\"simple-page\" role=\"main\"><div class=\"modal login\"><div id=\"loginIntroDefault\"><div class=\"logo\"></div><h1>Welcome to Jenkins!</h1></div>{error}<form method=\"post\" name=\"login\" action=\"j_spring_security_check\"><div class=\"jenkins-form-item jenkins-form-item--tight\"><input autocorrect=\"off\" autocomplete=\"username\" name=\"j_username\" id=\"j_username\" placeholder=\"Username\" type=\"text\" class=\"jenkins-input normal\" autocapitalize=\"off\" aria-label=\"Username\"></div><div class=\"jenkins-form-item jenkins-form-item--tight\"><input name=\"j_password\" placeholder=\"Password\" type=\"password\" class=\"jenkins-input normal\" aria-label=\"Password\"></div><div class=\"jenkins-checkbox\"><input type=\"checkbox\" id=\"remember_me\" name=\"remember_me\"><label for=\"remember_me\">Keep me signed in</label></div><input name=\"from\" type=\"hidden\"><div class=\"submit\"><button type=\"submit\" name=\"Submit\" class=\"jenkins-button jenkins-button--primary\">Sign in</button></div></form><div class=\"footer\"></div></div></div></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit::{self, Client};
    use serde_json::json;

    fn cfg(persona: serde_json::Value) -> Config {
        testkit::config_with_persona("web-01", "web-01", persona)
    }

    async fn get(c: &mut Client, req: &str) -> String {
        c.send(req.as_bytes()).await;
        c.read_http_response().await
    }

    #[tokio::test]
    async fn default_site_answers_and_logs_requests() {
        let t = testkit::start("http", cfg(json!({}))).await;
        let mut c = t.connect(0).await;
        let resp = get(
            &mut c,
            "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5\r\n\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.contains("Server: nginx/1.18.0 (Ubuntu)\r\n"));
        assert!(resp.contains("Welcome to nginx!"));
        let resp = get(&mut c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"));
        drop(c);
        let mut ev = t.events();
        ev.expect("connect").await;
        let r = ev.expect("request").await;
        assert_eq!(r["method"], "GET");
        assert_eq!(r["path"], "/");
        assert_eq!(r["user_agent"], "curl/8.5");
        assert_eq!(ev.expect("request").await["path"], "/nope");
        ev.expect("disconnect").await;
    }

    #[tokio::test]
    async fn persona_sets_status_body_and_headers_and_basic_auth_is_captured() {
        let t = testkit::start(
            "http",
            cfg(
                json!({"server_header": "Apache/2.2.15 (CentOS)", "response_code": 401,
                       "custom_body": "<h1>private</h1>", "extra_headers": {"X-Test": "1"}}),
            ),
        )
        .await;
        let mut c = t.connect(0).await;
        let resp = get(
            &mut c,
            "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46czNjcjN0\r\n\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{resp}");
        assert!(resp.contains("Server: Apache/2.2.15 (CentOS)\r\n"));
        assert!(resp.contains("WWW-Authenticate: Basic"));
        assert!(resp.contains("X-Test: 1\r\n"));
        assert!(resp.ends_with("<h1>private</h1>"));
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(a["username"], "admin");
        assert_eq!(a["password"], "s3cr3t");
        assert_eq!(a["method"], "basic");
    }

    #[tokio::test]
    async fn wordpress_login_and_xmlrpc_are_captured() {
        let t = testkit::start("http", cfg(json!({"fake_app": "wordpress"}))).await;
        let mut c = t.connect(0).await;
        let resp = get(&mut c, "GET /wp-login.php HTTP/1.1\r\nHost: blog\r\n\r\n").await;
        assert!(resp.contains("name=\"log\""));
        let body = "log=admin&pwd=hunter2&wp-submit=Log+In";
        let resp = get(
            &mut c,
            &format!("POST /wp-login.php HTTP/1.1\r\nHost: blog\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
        )
        .await;
        assert!(resp.contains("is incorrect"));
        let xml = "<?xml version=\"1.0\"?><methodCall><methodName>wp.getUsersBlogs</methodName><params><param><value><string>editor</string></value></param><param><value><string>letmein</string></value></param></params></methodCall>";
        let resp = get(
            &mut c,
            &format!(
                "POST /xmlrpc.php HTTP/1.1\r\nHost: blog\r\nContent-Length: {}\r\n\r\n{xml}",
                xml.len()
            ),
        )
        .await;
        assert!(resp.contains("Incorrect username or password."));
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("admin"), Some("hunter2"))
        );
        assert_eq!(a["method"], "form");
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("editor"), Some("letmein"))
        );
        assert_eq!(a["method"], "xmlrpc");
    }

    #[tokio::test]
    async fn phpmyadmin_tomcat_and_jenkins_logins() {
        let t = testkit::start("http", cfg(json!({"fake_app": "phpmyadmin"}))).await;
        let mut c = t.connect(0).await;
        let body = "pma_username=root&pma_password=toor&server=1";
        let resp = get(
            &mut c,
            &format!(
                "POST /index.php HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert!(resp.contains("Access denied for user 'root'@'localhost'"));
        let a = t.events().expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("root"), Some("toor"))
        );

        let t = testkit::start("http", cfg(json!({"fake_app": "tomcat"}))).await;
        let mut c = t.connect(0).await;
        let resp = get(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(resp.contains("<title>Apache Tomcat/9.0.83</title>"));
        let resp = get(&mut c, "GET /manager/html HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dG9tY2F0OnMzY3JldA==\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 401"));
        assert!(resp.contains("realm=\"Tomcat Manager Application\""));
        let a = t.events().expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("tomcat"), Some("s3cret"))
        );

        let t = testkit::start("http", cfg(json!({"fake_app": "jenkins"}))).await;
        let mut c = t.connect(0).await;
        let resp = get(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 403"));
        assert!(resp.contains("X-Jenkins: "));
        let body = "j_username=jadmin&j_password=jpass&from=%2F";
        let resp = get(&mut c, &format!("POST /j_spring_security_check HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len())).await;
        assert!(resp.starts_with("HTTP/1.1 302"));
        assert!(resp.contains("Location: /loginError"));
        let a = t.events().expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("jadmin"), Some("jpass"))
        );
    }

    #[tokio::test]
    async fn generic_form_posts_are_captured_and_bodies_logged() {
        let t = testkit::start("http", cfg(json!({}))).await;
        let mut c = t.connect(0).await;
        let body = "username=bob&password=pw1";
        get(
            &mut c,
            &format!(
                "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        let mut ev = t.events();
        let r = ev.expect("request").await;
        assert_eq!(r["body"], body);
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("bob"), Some("pw1"))
        );
    }

    #[tokio::test]
    async fn chunked_bodies_and_oversized_requests() {
        let t = testkit::start("http", cfg(json!({}))).await;
        let mut c = t.connect(0).await;
        let resp = get(&mut c, "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 404"));
        let r = t.events().expect("request").await;
        assert_eq!(r["body"], "abcdefg");

        let mut c = t.connect(0).await;
        let resp = get(
            &mut c,
            "POST /x HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");

        let mut c = t.connect(0).await;
        let long = "a".repeat(20_000);
        let resp = get(&mut c, &format!("GET /{long} HTTP/1.1\r\n\r\n")).await;
        assert!(resp.starts_with("HTTP/1.1 414"), "{resp}");
    }

    #[tokio::test]
    async fn https_serves_over_tls_with_the_persona_cn() {
        let t = testkit::start("https", cfg(json!({"tls_cn": "intranet.example.com"}))).await;
        let (mut tls, cert_cn) = t.connect_tls(0, "intranet.example.com").await;
        assert!(cert_cn);
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        let mut ev = t.events();
        ev.expect("connect").await;
        assert_eq!(ev.expect("request").await["service"], "https");
    }
}
