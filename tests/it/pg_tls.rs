//! TLS to a real PostgreSQL server (`ssl = on`, a certificate for
//! `pg.usagelake.test` signed by a test CA made with openssl): each
//! `sslmode` does what libpq's does, and a refused certificate is an error
//! that says why.

use std::path::Path;
use std::process::Command;

use usagelake::sources::postgres::tls::PgTarget;

use super::pg_server::PgServer;

/// A CA and a server certificate naming only `pg.usagelake.test`, in `dir`.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (Debian's openssl package)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=usagelake test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=pg.usagelake.test",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:pg.usagelake.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// Whether the session is encrypted, or the connection error's text.
async fn ssl_in_use(url: &str) -> Result<bool, String> {
    let target = PgTarget::parse(url).map_err(|e| format!("parse: {e}"))?;
    let client = target.connect().await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    })?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    Ok(row.get(0))
}

#[tokio::test]
async fn each_sslmode_encrypts_and_checks_the_certificate_as_libpq_does() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let read = |name: &str| std::fs::read(certs.path().join(name)).unwrap();
    let server = PgServer::start_with_tls(&read("server.crt"), &read("server.key"));
    let by_ip = server.superuser_url();
    let ca = certs.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    // The certificate's name, connecting to the loopback address.
    let by_name = by_ip.replace("@127.0.0.1:", "@pg.usagelake.test:") + "?hostaddr=127.0.0.1";

    assert_eq!(
        ssl_in_use(&format!("{by_ip}?sslmode=disable")).await,
        Ok(false)
    );
    // prefer (the default) and require encrypt without authenticating the
    // server, as libpq does without a root certificate.
    assert_eq!(ssl_in_use(&by_ip).await, Ok(true));
    assert_eq!(
        ssl_in_use(&format!("{by_ip}?sslmode=require")).await,
        Ok(true)
    );
    // verify-ca: the chain to the given CA, any name.
    assert_eq!(
        ssl_in_use(&format!("{by_ip}?sslmode=verify-ca&sslrootcert={ca}")).await,
        Ok(true)
    );
    // verify-full: the chain and the host's name.
    assert_eq!(
        ssl_in_use(&format!("{by_name}&sslmode=verify-full&sslrootcert={ca}")).await,
        Ok(true)
    );
    let wrong_name = ssl_in_use(&format!("{by_ip}?sslmode=verify-full&sslrootcert={ca}"))
        .await
        .unwrap_err();
    assert!(
        wrong_name
            .contains("invalid peer certificate: certificate not valid for name \"127.0.0.1\""),
        "{wrong_name}"
    );
    // require with a root certificate checks the chain (libpq's rule).
    let other_ca = certs.path().join("other-ca.pem");
    make_other_ca(certs.path());
    let unknown = ssl_in_use(&format!(
        "{by_ip}?sslmode=require&sslrootcert={}",
        other_ca.display()
    ))
    .await
    .unwrap_err();
    assert!(unknown.contains("UnknownIssuer"), "{unknown}");
    // The system's roots do not know the test CA.
    let system = ssl_in_use(&format!("{by_name}&sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(
        system.contains("UnknownIssuer") || system.contains("no trusted root certificates"),
        "{system}"
    );
    // A root file that is not there: the error names it and the fix.
    let missing = ssl_in_use(&format!(
        "{by_ip}?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"
    ))
    .await
    .unwrap_err();
    assert!(
        missing.starts_with("sslrootcert /nonexistent/ca.pem: ")
            && missing.ends_with("; name a PEM file of the server's CA certificate(s)"),
        "{missing}"
    );
    // No password in any of those errors.
    for text in [&wrong_name, &unknown, &system, &missing] {
        assert!(
            !text.contains(super::pg_server::SUPERUSER_PASSWORD),
            "{text}"
        );
    }
    server.stop();
}

/// A second, unrelated CA (for "signed by someone else").
fn make_other_ca(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=another CA",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
