# bench/smtp_nagle_check.py: mimics lettre's DATA phase over STARTTLS+AUTH on the lab's
# submission port: the body is written and flushed, then "\r\n.\r\n" in a second write (as
# lettre 0.11.23 does), once without and once with TCP_NODELAY; prints the time per message.
# Usage: python3 bench/smtp_nagle_check.py [SUBMISSION_PORT [LAB_DIR]]  (docs/performance.md, "Mail intake")
import smtplib, ssl, time, socket, sys, statistics
port = int(sys.argv[1]) if len(sys.argv) > 1 else 14587          # the lab submission port
lab = sys.argv[2] if len(sys.argv) > 2 else "/tmp/lab-bench"  # the lab DIR (for its CA)
ctx = ssl.create_default_context(cafile=lab + "/certs/ca.crt")
body = (b"From: bench-agent@vc.test\r\nTo: bench-clinic-9999@vc.test\r\nSubject: t\r\n\r\n" + b"x" * 70 + b"\r\n") * 60
def run(nodelay):
    s = smtplib.SMTP("127.0.0.1", port)
    if nodelay: s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.starttls(context=ctx); s.login("bench-agent@vc.test", "clinic-pass")
    out = []
    for i in range(20):
        t = time.perf_counter()
        s.noop(); s.mail("bench-agent@vc.test"); s.rcpt("bench-clinic-9999@vc.test")
        s.putcmd("data"); s.getreply()
        s.sock.sendall(body)          # lettre: write(body) + flush
        s.sock.sendall(b"\r\n.\r\n")  # lettre: write(".") + flush
        code, _ = s.getreply(); assert code == 250
        out.append((time.perf_counter() - t) * 1000)
    s.quit()
    return out
for nd in (False, True):
    v = run(nd)
    print(f"TCP_NODELAY={nd}: median {statistics.median(v):.1f} ms, min {min(v):.1f}, max {max(v):.1f} (20 sends)")
