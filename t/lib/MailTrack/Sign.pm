package MailTrack::Sign;

# Signs webhook requests the way each provider does, with the openssl CLI
# and Digest::SHA: the tests send exactly what a provider would send.

use strict;
use warnings;

use Exporter 'import';
use Digest::SHA qw(hmac_sha256_hex hmac_sha256 hmac_sha1);
use MIME::Base64 qw(encode_base64 decode_base64);
use File::Temp ();
use IPC::Open3 ();
use Symbol ();

our @EXPORT = qw(sendgrid_keypair sendgrid_sign mailgun_body resend_headers
                 mandrill_signature basic_auth http_request sns_certs
                 sns_sign sns_envelope urlencode);

my $dir = File::Temp::tempdir('mt-sign-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub _run {
    my ($in, @cmd) = @_;

    # stderr apart: with undef, open3 mixes it into the output ("read EC
    # key" would end up in front of a DER key)
    my $err = Symbol::gensym();
    my $pid = IPC::Open3::open3(my $w, my $r, $err, @cmd);
    binmode $w;
    binmode $r;
    print $w $in if defined $in;
    close $w;
    my $out = do { local $/; <$r> };
    my $msg = do { local $/; <$err> };
    waitpid $pid, 0;
    die "@cmd failed\n" . ($msg // '') if $? != 0;

    return $out;
}

# a fresh P-256 key pair: (private key file, public key as SendGrid shows it)
sub sendgrid_keypair {
    my ($name) = @_;
    $name ||= 'sg' . int(rand(1e9));

    my $key = "$dir/$name.pem";
    _run(undef, 'openssl', 'ecparam', '-name', 'prime256v1', '-genkey',
         '-noout', '-out', $key);
    my $der = _run(undef, 'openssl', 'ec', '-in', $key, '-pubout',
                   '-outform', 'DER');

    return ($key, encode_base64($der, ''));
}

# base64 DER ECDSA signature over timestamp || body
sub sendgrid_sign {
    my ($keyfile, $ts, $body) = @_;

    my $sig = _run($ts . $body, 'openssl', 'dgst', '-sha256', '-sign',
                   $keyfile);

    return encode_base64($sig, '');
}

# a Mailgun JSON body, signed: mailgun_body($key, $event_data_json, %o)
sub mailgun_body {
    my ($key, $event_data, %o) = @_;

    my $ts = int($o{timestamp} // time());
    my $token = $o{token} // join '', map { sprintf '%02x', rand 256 } 1 .. 25;
    my $sig = $o{signature} // hmac_sha256_hex("$ts$token", $key);

    return qq({"signature":{"token":"$token","timestamp":"$ts",)
         . qq("signature":"$sig"},"event-data":$event_data});
}

# Svix headers for a body: resend_headers('whsec_...', $id, $ts, $body)
sub resend_headers {
    my ($secret, $id, $ts, $body, %o) = @_;

    (my $b64 = $secret) =~ s/^whsec_//;
    my $sig = encode_base64(hmac_sha256("$id.$ts.$body", decode_base64($b64)),
                            '');
    my $p = $o{prefix} || 'svix';

    return "$p-id: $id\n$p-timestamp: $ts\n$p-signature: v1,$sig\n";
}

sub urlencode {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# X-Mandrill-Signature: base64(HMAC-SHA1(key, url . sorted key.value))
sub mandrill_signature {
    my ($key, $url, %params) = @_;

    my $data = $url;
    $data .= $_ . $params{$_} for sort keys %params;

    return encode_base64(hmac_sha1($data, $key), '');
}

sub basic_auth {
    my ($user, $pass) = @_;
    return 'Authorization: Basic ' . encode_base64("$user:$pass", '');
}

# a raw HTTP/1.1 request: http_request(METHOD, URI, HEADERS_TEXT, BODY)
sub http_request {
    my ($method, $uri, $headers, $body) = @_;

    $headers //= '';
    $headers =~ s/\r?\n/\r\n/g;
    $headers .= "\r\n" if length $headers && $headers !~ /\r\n$/;
    $body //= '';

    return "$method $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
         . $headers . "Content-Length: " . length($body) . "\r\n\r\n"
         . $body;
}

# the test CA and SNS certificates (t/lib/sns-certs.sh): a hash of paths
my %sns;

sub sns_certs {
    return \%sns if %sns;

    my $out = "$dir/sns";
    mkdir $out;

    my $script = __FILE__;
    $script =~ s{MailTrack/Sign\.pm$}{sns-certs.sh};
    _run(undef, 'sh', $script, $out);

    %sns = map { $_ => "$out/$_.pem" } qw(ca sns rogue int leaf);
    $sns{$_ . '_key'} = "$out/$_.key" for qw(sns rogue leaf);
    $sns{int_der} = "$out/int.der";
    $sns{dir} = $out;

    return \%sns;
}

# base64 RSA signature of the SNS string to sign
sub sns_sign {
    my ($keyfile, $version, $string) = @_;

    my $sig = _run($string, 'openssl', 'dgst',
                   $version eq '1' ? '-sha1' : '-sha256', '-sign', $keyfile);

    return encode_base64($sig, '');
}

# a JSON string; with $ascii every non-ASCII character as \uXXXX (a
# surrogate pair beyond U+FFFF), the way some JSON writers send them
sub _json_str {
    my ($s, $ascii) = @_;
    $s =~ s/(["\\])/\\$1/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;

    if ($ascii) {
        utf8::decode($s) unless utf8::is_utf8($s);
        $s =~ s/([^\x00-\x7f])/_u_escape(ord $1)/ge;
    }

    return qq("$s");
}

sub _u_escape {
    my ($c) = @_;

    return sprintf('\\u%04x', $c) if $c < 0x10000;

    $c -= 0x10000;
    return sprintf('\\u%04x\\u%04x', 0xd800 + ($c >> 10),
                   0xdc00 + ($c & 0x3ff));
}

# a signed SNS envelope:
#   sns_envelope(key => FILE, version => 2, Type => 'Notification',
#                Message => '...', TopicArn => ..., cert_url => ...)
# Values are character strings (encoded as UTF-8) or UTF-8 bytes; the
# signature covers the decoded values, as SNS signs them.  Options:
#   Subject, MessageId, Timestamp, SubscribeURL, Token, Signature
#   sign => { Key => VALUE }   sign this value instead of the sent one
#   omit => [ keys ]           leave these keys out of the body (a signed
#                              key is still signed)
#   raw => { Key => JSON }     add or replace a key with raw JSON text,
#                              unsigned (e.g. Subject => 'null')
#   ascii => 1                 non-ASCII characters as \uXXXX escapes
sub sns_envelope {
    my (%a) = @_;

    my $type = $a{Type} || 'Notification';
    my %m = (
        Type => $type,
        MessageId => $a{MessageId} || sprintf('%08x-0000-4000-8000-%012x',
                                              rand(2**32), rand(2**40)),
        TopicArn => $a{TopicArn}
                    || 'arn:aws:sns:us-east-1:123456789012:ses-events',
        Message => $a{Message} // '{}',
        Timestamp => $a{Timestamp} || _iso(time()),
        SignatureVersion => $a{version} // '2',
        SigningCertURL => $a{cert_url}
            || 'https://sns.us-east-1.amazonaws.com/'
               . 'SimpleNotificationService-test0123456789.pem',
    );

    $m{Subject} = $a{Subject} if defined $a{Subject};
    if ($type ne 'Notification') {
        $m{SubscribeURL} = $a{SubscribeURL}
            || 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription'
               . '&TopicArn=' . $m{TopicArn} . '&Token=abc';
        $m{Token} = $a{Token} || 'abc';
    } else {
        $m{UnsubscribeURL} = 'https://sns.us-east-1.amazonaws.com/'
                             . '?Action=Unsubscribe&SubscriptionArn=x';
    }

    # one encoding for the body and the string to sign: UTF-8 bytes
    for my $k (keys %m) {
        utf8::encode($m{$k}) if utf8::is_utf8($m{$k});
    }

    my %signed = (%m, %{ $a{sign} || {} });
    for my $k (keys %signed) {
        utf8::encode($signed{$k}) if utf8::is_utf8($signed{$k});
    }

    my @keys = $type eq 'Notification'
             ? qw(Message MessageId Subject Timestamp TopicArn Type)
             : qw(Message MessageId SubscribeURL Timestamp Token TopicArn Type);

    my $string = '';
    for my $k (@keys) {
        next unless defined $signed{$k};
        $string .= "$k\n$signed{$k}\n";
    }

    $m{Signature} = $a{Signature}
        // sns_sign($a{key} || sns_certs()->{sns_key}, $m{SignatureVersion},
                    $string);

    delete @m{ @{ $a{omit} || [] } };

    my %raw = %{ $a{raw} || {} };
    delete @m{ keys %raw };

    my $json = '{' . join(',',
        (map { _json_str($_) . ':' . _json_str($m{$_}, $a{ascii}) }
             sort keys %m),
        (map { _json_str($_) . ':' . $raw{$_} } sort keys %raw)) . '}';

    return wantarray ? ($json, \%m) : $json;
}

sub _iso {
    my @t = gmtime($_[0]);
    return sprintf('%04d-%02d-%02dT%02d:%02d:%02d.000Z', $t[5] + 1900,
                   $t[4] + 1, @t[3, 2, 1, 0]);
}

1;
