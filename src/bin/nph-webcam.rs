//! `nph-webcam`: pushes a camera's image file as MJPEG, or one snapshot; see
//! `serverpush::source::webcam`.

serverpush::cgi_main!(serverpush::source::webcam::Webcam);
