SELECT b.auction, a.itemName FROM bid b JOIN auction a ON b.auction = a.id AND b.date_time BETWEEN a.date_time - INTERVAL '1' SECOND AND a.date_time
