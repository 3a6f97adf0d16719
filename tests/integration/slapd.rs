//! A real OpenLDAP server for the directory tests: Debian's slapd (which
//! `.ci/run` installs when missing), started on free ports with LDAP
//! (StartTLS) and LDAPS, a certificate authority made for the test, and
//! the entries loaded with slapadd. Its reader account may see only 3
//! entries per search unless it pages (RFC 2696), so a search that
//! doesn't page fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The suffix of the test directory.
pub const SUFFIX: &str = "dc=example,dc=com";
/// The account usher binds as, and its password.
pub const READER: &str = "cn=reader,dc=example,dc=com";
pub const READER_PASSWORD: &str = "reader-secret";
/// The administrator (for changing entries during a test).
pub const ADMIN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PASSWORD: &str = "admin-secret";

/// Active Directory's `userAccountControl` and `sAMAccountName` as AD
/// defines them (their OIDs and syntaxes), on an auxiliary class, so an
/// OpenLDAP entry can carry them.
const AD_SCHEMA: &str = "\
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'usherTestAdAccount'
    SUP top AUXILIARY MAY ( userAccountControl $ sAMAccountName ) )
";

pub struct Slapd {
    child: Child,
    _dir: tempfile::TempDir,
    /// `ldap://127.0.0.1:PORT` (StartTLS).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
    /// The PEM of the authority that signed the server's certificate.
    pub ca_file: PathBuf,
}

fn slapd_binary() -> PathBuf {
    for candidate in [
        "/usr/sbin/slapd",
        "/usr/local/sbin/slapd",
        "/usr/libexec/slapd",
    ] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "OpenLDAP's slapd is not installed; the LDAP tests run a real one: sudo apt-get install -y slapd (.ci/run does it)"
    );
}

fn schema_dir() -> PathBuf {
    [
        "/etc/ldap/schema",
        "/etc/openldap/schema",
        "/usr/local/etc/openldap/schema",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.join("core.schema").exists())
    .expect("OpenLDAP's schema files (core.schema) are installed with slapd")
}

fn module_dir() -> Option<PathBuf> {
    ["/usr/lib/ldap", "/usr/lib/openldap", "/usr/lib64/openldap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Slapd {
    /// Starts a server holding `ldif` (under [`SUFFIX`]).
    pub fn start(ldif: &str) -> Slapd {
        let slapd = slapd_binary();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("data")).unwrap();

        // A certificate authority and the server's certificate for 127.0.0.1.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "usher test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let server = server_params.signed_by(&server_key, &issuer).unwrap();
        let ca_file = root.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(root.join("server.pem"), server.pem()).unwrap();
        std::fs::write(root.join("server.key"), server_key.serialize_pem()).unwrap();
        std::fs::write(root.join("ad.schema"), AD_SCHEMA).unwrap();

        let schema = schema_dir();
        let modules = module_dir()
            .map(|m| format!("modulepath {}\nmoduleload back_mdb\n", m.display()))
            .unwrap_or_default();
        let r = root.display();
        let s = schema.display();
        let conf = format!(
            "include {s}/core.schema
include {s}/cosine.schema
include {s}/inetorgperson.schema
include {s}/nis.schema
include {r}/ad.schema
{modules}pidfile {r}/slapd.pid
TLSCACertificateFile {r}/ca.pem
TLSCertificateFile {r}/server.pem
TLSCertificateKeyFile {r}/server.key
database mdb
maxsize 104857600
suffix \"{SUFFIX}\"
rootdn \"{ADMIN}\"
rootpw {ADMIN_PASSWORD}
directory {r}/data
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
limits dn.exact=\"{READER}\" size.soft=3 size.hard=3 size.pr=unlimited size.prtotal=unlimited
"
        );
        let conf_file = root.join("slapd.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let ldif = format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: {READER}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PASSWORD}\n\n{ldif}"
        );
        std::fs::write(root.join("data.ldif"), ldif).unwrap();
        let added = Command::new(&slapd)
            .arg("-T")
            .arg("add")
            .arg("-f")
            .arg(&conf_file)
            .arg("-l")
            .arg(root.join("data.ldif"))
            .output()
            .unwrap();
        assert!(
            added.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&added.stderr)
        );

        let (ldap_port, ldaps_port) = (crate::support::free_port(), crate::support::free_port());
        let ldap_url = format!("ldap://127.0.0.1:{ldap_port}");
        let ldaps_url = format!("ldaps://127.0.0.1:{ldaps_port}");
        let child = Command::new(&slapd)
            .arg("-f")
            .arg(&conf_file)
            .arg("-h")
            .arg(format!("{ldap_url}/ {ldaps_url}/"))
            // -d keeps it in the foreground (a child we can stop); 0: quiet.
            .arg("-d")
            .arg("0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Slapd {
            child,
            _dir: dir,
            ldap_url,
            ldaps_url,
            ca_file,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", ldap_port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", ldaps_port)).is_ok()
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut err = String::new();
                use std::io::Read;
                let _ = server.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("slapd stopped ({status}): {err}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("slapd didn't listen within 10 s");
    }

    /// A connection bound as the administrator, over StartTLS.
    pub async fn admin(&self) -> ldap3::Ldap {
        self.bind(ADMIN, ADMIN_PASSWORD).await
    }

    /// A connection bound as `dn`, over StartTLS.
    pub async fn bind(&self, dn: &str, password: &str) -> ldap3::Ldap {
        let (conn, mut ldap) = ldap3::LdapConnAsync::with_settings(
            ldap3::LdapConnSettings::new()
                .set_starttls(true)
                .set_no_tls_verify(true),
            &self.ldap_url,
        )
        .await
        .unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(dn, password)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
