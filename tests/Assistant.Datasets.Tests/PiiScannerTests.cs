namespace Assistant.Datasets.Tests;

public sealed class PiiScannerTests
{
    [Theory]
    [InlineData("jane.doe@example.com")]
    [InlineData("write to j_smith+tag@mail.example.co.uk.")]
    [InlineData("(admin-1@sub.domain.org)")]
    [InlineData("Адрес: ivan.petrov@yandex.ru, спасибо")]
    public void Emails_are_found(string text) => Assert.Equal(new PiiFindings(1, 0, 0, 0, 1), PiiScanner.Scan(text));

    [Theory]
    [InlineData("user@localhost")]
    [InlineData("@handle on twitter")]
    [InlineData("a@b.c")]
    [InlineData("price is 5 @ 3.50")]
    [InlineData("foo@bar..com")]
    public void Things_that_are_not_emails_are_not(string text) => Assert.Equal(0, PiiScanner.Scan(text).Emails);

    [Theory]
    [InlineData("+1 (555) 123-4567")]
    [InlineData("call (555) 123-4567 now")]
    [InlineData("555-123-4567")]
    [InlineData("555.123.4567")]
    [InlineData("1-555-123-4567")]
    [InlineData("+44 20 7946 0958")]
    [InlineData("+7 (912) 345-67-89")]
    [InlineData("8 (912) 345-67-89")]
    [InlineData("+49 30 1234567")]
    [InlineData("+15551234567")]
    [InlineData("tel: 020 7946 0958")]
    public void Phones_in_common_formats_are_found(string text) => Assert.Equal(new PiiFindings(0, 1, 0, 0, 1), PiiScanner.Scan(text));

    [Theory]
    [InlineData("on 2024-01-15 at 14:30")]
    [InlineData("2023-10-05 14:30:00")]
    [InlineData("version 1.2.3")]
    [InlineData("IP 192.168.100.200")]
    [InlineData("it costs 1 000 000 000 rubles")]
    [InlineData("order 5551234567")]
    [InlineData("timestamp 1700000000")]
    [InlineData("pi is 3.14159265358979")]
    [InlineData("ISBN 978-3-16-148410-0")]
    [InlineData("room 12, floor 3")]
    public void Dates_numbers_and_versions_are_not_phones(string text) => Assert.Equal(PiiFindings.None, PiiScanner.Scan(text));

    [Theory]
    [InlineData("4111 1111 1111 1111")]
    [InlineData("card: 5500-0000-0000-0004.")]
    [InlineData("Amex 378282246310005")]
    [InlineData("4012888888881881")]
    public void Luhn_valid_card_numbers_are_found(string text) => Assert.Equal(new PiiFindings(0, 0, 1, 0, 1), PiiScanner.Scan(text));

    [Theory]
    [InlineData("4111 1111 1111 1112")]
    [InlineData("1234567812345678")]
    [InlineData("4111 1111 1111 1111 9")] // 17 digits with a stray group: not a card shape
    public void Card_like_numbers_failing_luhn_or_shape_are_not_cards(string text) => Assert.Equal(0, PiiScanner.Scan(text).CardNumbers);

    [Theory]
    [InlineData("DE89 3704 0044 0532 0130 00")]
    [InlineData("IBAN: GB82WEST12345698765432.")]
    [InlineData("FR14 2004 1010 0505 0001 3M02 606 is my account")]
    [InlineData("NL91ABNA0417164300")]
    public void Checksum_valid_ibans_are_found(string text) => Assert.Equal(new PiiFindings(0, 0, 0, 1, 1), PiiScanner.Scan(text));

    [Theory]
    [InlineData("DE89 3704 0044 0532 0130 01")]
    [InlineData("GB82WEST12345698765433")]
    [InlineData("XX00 1234")]
    public void Ibans_failing_the_checksum_are_not_found(string text) => Assert.Equal(0, PiiScanner.Scan(text).Ibans);

    [Fact]
    public void Redact_replaces_each_kind_with_its_marker()
    {
        const string text = "Jane (jane@example.com, +1 (555) 123-4567) paid with 4111 1111 1111 1111 from DE89 3704 0044 0532 0130 00. Order 42.";

        Assert.Equal("Jane ([EMAIL], [PHONE]) paid with [CARD] from [IBAN]. Order 42.", PiiScanner.Redact(text));
        Assert.Equal(new PiiFindings(1, 1, 1, 1, 1), PiiScanner.Scan(text));
        Assert.Equal(PiiFindings.None, PiiScanner.Scan(PiiScanner.Redact(text)));
    }

    [Fact]
    public void Text_without_personal_data_is_returned_as_is()
    {
        const string text = "Nothing to see: 2024-01-15, v1.2.3, 100 km.";

        Assert.Same(text, PiiScanner.Redact(text));
    }

    [Fact]
    public void Several_matches_of_one_kind_are_all_counted()
    {
        Assert.Equal(new PiiFindings(3, 2, 0, 0, 1), PiiScanner.Scan("a@x.io b@y.io c@z.io 555-123-4567 +44 20 7946 0958"));
    }
}
