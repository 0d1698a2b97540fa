#!/bin/sh
#
# Test certificates for the Amazon SNS (SES) webhook:
#
#   t/lib/sns-certs.sh DIR
#
# writes into DIR (created if needed):
#   ca.pem, ca.key       a test CA (give it to mail_track_sns_ca)
#   sns.pem, sns.key     an SNS signing certificate the CA issued
#                        (CN=sns.amazonaws.com, RSA 2048)
#   rogue.pem, rogue.key a self-signed look-alike no CA vouches for
#   int.pem, int.der     an intermediate CA the CA issued
#   leaf.pem, leaf.key   an SNS signing certificate the intermediate issued,
#                        naming it in its Authority Information Access
#                        (http://crt.test.amazontrust.com/int.cer), as
#                        SNS's real certificates do
#
# Sign a string to sign with:
#   printf '%s' "$STRING" | openssl dgst -sha256 -sign DIR/sns.key | base64 -w0
# (-sha1 for SignatureVersion 1).

set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi

dir=$1
days=${SNS_CERT_DAYS:-3650}
openssl=${OPENSSL:-openssl}

mkdir -p "$dir"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/ca.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = mail-track test SNS CA
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

cat > "$tmp/leaf.cnf" <<'EOF'
[ v3_leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectAltName = DNS:sns.amazonaws.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_int ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_aia ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectAltName = DNS:sns.amazonaws.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = caIssuers;URI:http://crt.test.amazontrust.com/int.cer
EOF

# the CA

"$openssl" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/ca.key" 2>/dev/null

"$openssl" req -new -x509 -sha256 -days "$days" -key "$dir/ca.key" \
    -config "$tmp/ca.cnf" -extensions v3_ca -out "$dir/ca.pem"

# the signing certificate, issued by the CA

"$openssl" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/sns.key" 2>/dev/null

"$openssl" req -new -sha256 -key "$dir/sns.key" -subj "/CN=sns.amazonaws.com" \
    -out "$tmp/sns.csr"

"$openssl" x509 -req -sha256 -days "$days" -in "$tmp/sns.csr" \
    -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -set_serial 0x$(date +%s) \
    -extfile "$tmp/leaf.cnf" -extensions v3_leaf \
    -out "$dir/sns.pem" 2>/dev/null

# a self-signed look-alike: the same name, no CA behind it

"$openssl" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/rogue.key" 2>/dev/null

"$openssl" req -new -x509 -sha256 -days "$days" -key "$dir/rogue.key" \
    -subj "/CN=sns.amazonaws.com" -out "$dir/rogue.pem"

"$openssl" verify -CAfile "$dir/ca.pem" "$dir/sns.pem" >/dev/null

# an intermediate, and a leaf that names it (the shape of SNS's chain)

"$openssl" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/int.key" 2>/dev/null

"$openssl" req -new -sha256 -key "$dir/int.key" \
    -subj "/CN=mail-track test intermediate" -out "$tmp/int.csr"

"$openssl" x509 -req -sha256 -days "$days" -in "$tmp/int.csr" \
    -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -set_serial 0x$(date +%s)1 \
    -extfile "$tmp/leaf.cnf" -extensions v3_int \
    -out "$dir/int.pem" 2>/dev/null

"$openssl" x509 -in "$dir/int.pem" -outform DER -out "$dir/int.der"

"$openssl" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/leaf.key" 2>/dev/null

"$openssl" req -new -sha256 -key "$dir/leaf.key" \
    -subj "/CN=sns.amazonaws.com" -out "$tmp/leaf.csr"

"$openssl" x509 -req -sha256 -days "$days" -in "$tmp/leaf.csr" \
    -CA "$dir/int.pem" -CAkey "$dir/int.key" -set_serial 0x$(date +%s)2 \
    -extfile "$tmp/leaf.cnf" -extensions v3_aia \
    -out "$dir/leaf.pem" 2>/dev/null

"$openssl" verify -CAfile "$dir/ca.pem" -untrusted "$dir/int.pem" \
    "$dir/leaf.pem" >/dev/null
