import { describe, expect, it } from "vitest";
import { isCertificateUrl, isSubscribeUrl, parseExtraUrlPrefix, readEnvelope, stringToSign } from "./sns-signature.ts";

const body = (fields: unknown) => Buffer.from(JSON.stringify(fields));

describe("SNS string to sign", () => {
  it("reproduces AWS's documented string to sign for a Notification", () => {
    // "Verifying the signatures of Amazon SNS messages", step 5, Notification example.
    const envelope = readEnvelope(
      body({
        Type: "Notification",
        MessageId: "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        TopicArn: "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        Subject: "My subject",
        Message: "My Test Message",
        Timestamp: "2019-01-31T04:37:04.321Z",
        SignatureVersion: "1",
        Signature: "x",
        SigningCertURL: "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-1.pem",
        UnsubscribeURL: "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
      }),
    );
    expect(stringToSign(envelope!)).toBe(
      [
        "Message",
        "My Test Message",
        "MessageId",
        "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "Subject",
        "My subject",
        "Timestamp",
        "2019-01-31T04:37:04.321Z",
        "TopicArn",
        "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "Type",
        "Notification",
        "",
      ].join("\n"),
    );
  });

  it("reproduces AWS's documented string to sign for a SubscriptionConfirmation, and uses the same fields for an UnsubscribeConfirmation", () => {
    const fields = {
      Type: "SubscriptionConfirmation",
      MessageId: "3d891288-136d-417f-bc05-901c108273ee",
      Token: "233...",
      TopicArn: "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
      Message: "My Test Message",
      SubscribeURL: "https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...",
      Timestamp: "2019-01-31T19:25:13.719Z",
      SignatureVersion: "1",
      Signature: "x",
      SigningCertURL: "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-1.pem",
    };
    const expected = (type: string) =>
      [
        "Message",
        "My Test Message",
        "MessageId",
        "3d891288-136d-417f-bc05-901c108273ee",
        "SubscribeURL",
        fields.SubscribeURL,
        "Timestamp",
        "2019-01-31T19:25:13.719Z",
        "Token",
        "233...",
        "TopicArn",
        "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "Type",
        type,
        "",
      ].join("\n");
    expect(stringToSign(readEnvelope(body(fields))!)).toBe(expected("SubscriptionConfirmation"));
    expect(stringToSign(readEnvelope(body({ ...fields, Type: "UnsubscribeConfirmation" }))!)).toBe(expected("UnsubscribeConfirmation"));
  });

  it("keeps control characters as JSON decoding gives them (a \\n in Message is a newline in the signed text)", () => {
    const envelope = readEnvelope(
      Buffer.from(
        '{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"line one\\nline two","Timestamp":"ts","SignatureVersion":"1","Signature":"s","SigningCertURL":"u"}',
      ),
    );
    expect(stringToSign(envelope!)).toBe("Message\nline one\nline two\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n");
  });
});

describe("reading an SNS envelope before verification", () => {
  const notification = {
    Type: "Notification",
    MessageId: "m",
    TopicArn: "arn:aws:sns:us-west-2:123456789012:MyTopic",
    Message: "{}",
    Timestamp: "2012-05-02T00:54:06.655Z",
    SignatureVersion: "1",
    Signature: "c2ln",
    SigningCertURL: "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
  };

  it("refuses what is not a signed SNS message: not JSON, an array, a raw SES record, an unknown Type, a missing or non-string or over-long field", () => {
    expect(readEnvelope(body(notification))).toBeDefined();
    expect(readEnvelope(Buffer.from("not json"))).toBeUndefined();
    expect(readEnvelope(body([notification]))).toBeUndefined();
    expect(readEnvelope(body({ eventType: "Delivery", mail: { messageId: "x" } }))).toBeUndefined();
    expect(readEnvelope(body({ ...notification, Type: "Notice" }))).toBeUndefined();
    for (const name of ["MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"]) {
      expect(readEnvelope(body({ ...notification, [name]: undefined })), name).toBeUndefined();
      expect(readEnvelope(body({ ...notification, [name]: 1 })), name).toBeUndefined();
    }
    expect(readEnvelope(body({ ...notification, MessageId: "m".repeat(257) }))).toBeUndefined();
    expect(readEnvelope(body({ ...notification, Type: "SubscriptionConfirmation" }))).toBeUndefined();
    expect(readEnvelope(body({ ...notification, Subject: 5 }))).toBeUndefined();
  });

  it("treats a null Subject as absent, as AWS's validators do", () => {
    expect(readEnvelope(body({ ...notification, Subject: null }))).not.toHaveProperty("Subject");
  });
});

describe("SNS URL rules", () => {
  const pem = "/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem";

  it("accepts certificates only over https from sns.<region>.amazonaws.com(.cn) with a .pem path", () => {
    for (const host of ["sns.us-west-2.amazonaws.com", "sns.us-gov-west-1.amazonaws.com", "sns.cn-north-1.amazonaws.com.cn", "SNS.EU-CENTRAL-1.AMAZONAWS.COM"]) {
      expect(isCertificateUrl(`https://${host}${pem}`), host).toBe(true);
    }
    for (const url of [
      `http://sns.us-west-2.amazonaws.com${pem}`,
      `https://sns.us-west-2.amazonaws.com.evil.example${pem}`,
      `https://evil.example/sns.us-west-2.amazonaws.com${pem}`,
      `https://sns.us-west-2.amazonaws.com:8443${pem}`,
      `https://user@sns.us-west-2.amazonaws.com${pem}`,
      `https://sns.us-west-2.amazonaws.com/SimpleNotificationService.txt`,
      `https://sns.us-west-2.amazonaws.com${pem}?x=1`,
      // An S3 bucket named "sns" on a legacy dash-region S3 endpoint: AWS's own host pattern accepts it.
      `https://sns.s3-us-west-2.amazonaws.com${pem}`,
      `https://sns.s3.amazonaws.com${pem}`,
      `https://s3.amazonaws.com/sns${pem}`,
      `https://sqs.us-west-2.amazonaws.com${pem}`,
      "not a url",
    ]) {
      expect(isCertificateUrl(url), url).toBe(false);
    }
  });

  it("accepts subscribe URLs on the same hosts, over https only", () => {
    expect(isSubscribeUrl("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336")).toBe(true);
    expect(isSubscribeUrl("http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription")).toBe(false);
    expect(isSubscribeUrl("https://169.254.169.254/latest/meta-data/")).toBe(false);
  });

  it("accepts the extra prefix by origin and path, not by characters", () => {
    const prefix = parseExtraUrlPrefix("http://127.0.0.1:8099/certs/");
    expect(isCertificateUrl("http://127.0.0.1:8099/certs/a.pem", prefix)).toBe(true);
    expect(isSubscribeUrl("http://127.0.0.1:8099/certs/confirm?Token=1", prefix)).toBe(true);
    expect(isCertificateUrl("http://127.0.0.1:8099/other/a.pem", prefix)).toBe(false);
    expect(isCertificateUrl("http://127.0.0.1:80990/certs/a.pem", prefix)).toBe(false);
    expect(isCertificateUrl("http://127.0.0.1:8099@evil.example/certs/a.pem", prefix)).toBe(false);
    expect(isCertificateUrl("http://127.0.0.1:8099/certs/../admin/a.pem", prefix)).toBe(false);
    expect(isCertificateUrl("http://127.0.0.1:8099/certs/%2e%2e/admin/a.pem", prefix)).toBe(false);
    expect(isCertificateUrl("http://127.0.0.1:8099/certs/a.pem", undefined)).toBe(false);
  });

  it("refuses an extra prefix that is plain http off loopback, or carries a user, query or no trailing slash", () => {
    expect(() => parseExtraUrlPrefix("http://certs.example/")).toThrow(/loopback/);
    expect(() => parseExtraUrlPrefix("http://127.0.0.1:8099/certs")).toThrow(/end in \//);
    expect(() => parseExtraUrlPrefix("https://u:p@certs.example/")).toThrow(/user/);
    expect(() => parseExtraUrlPrefix("https://certs.example/?a=1")).toThrow(/query/);
    expect(() => parseExtraUrlPrefix("certs")).toThrow(/absolute URL/);
    expect(parseExtraUrlPrefix("https://certs.example/sns/").href).toBe("https://certs.example/sns/");
    expect(parseExtraUrlPrefix("http://[::1]:9/").host).toBe("[::1]:9");
  });
});
