// django-otp-webauthn's script says so with an event when a passkey was added:
// the page is loaded again, to list it (and show new recovery codes once).
document.addEventListener("otp_webauthn.register_complete", () => {
  window.location.reload();
});
