//! Points on the Earth and great-circle distances.
//!
//! Points are also kept as unit vectors: the straight-line (chord) distance
//! between two unit vectors grows monotonically with the great-circle distance,
//! so an ordinary 3-D spatial index visits schools in true great-circle order.

/// Mean Earth radius (IUGG), in km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A WGS84 position in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// A point on the unit sphere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitVector(pub [f64; 3]);

impl GeoPoint {
    pub fn new(latitude: f64, longitude: f64) -> GeoPoint {
        GeoPoint {
            latitude,
            longitude,
        }
    }

    pub fn unit_vector(self) -> UnitVector {
        let (lat, lon) = (self.latitude.to_radians(), self.longitude.to_radians());
        UnitVector([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()])
    }

    /// Great-circle distance in km.
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        self.unit_vector().distance_km(other.unit_vector())
    }
}

impl UnitVector {
    /// Squared chord length between two unit vectors.
    pub fn chord_squared(self, other: UnitVector) -> f64 {
        let [a, b, c] = self.0;
        let [x, y, z] = other.0;
        (a - x) * (a - x) + (b - y) * (b - y) + (c - z) * (c - z)
    }

    /// Great-circle distance in km for a squared chord length.
    pub fn chord_squared_to_km(chord_squared: f64) -> f64 {
        let half_chord = (chord_squared.sqrt() / 2.0).min(1.0);
        2.0 * EARTH_RADIUS_KM * half_chord.asin()
    }

    /// Great-circle distance in km.
    pub fn distance_km(self, other: UnitVector) -> f64 {
        UnitVector::chord_squared_to_km(self.chord_squared(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardiff_to_bangor_is_about_190_km() {
        let cardiff = GeoPoint::new(51.4816, -3.1791);
        let bangor = GeoPoint::new(53.2274, -4.1293);
        let d = cardiff.distance_km(bangor);
        assert!((d - 205.0).abs() < 5.0, "distance {d}");
        assert_eq!(cardiff.distance_km(cardiff), 0.0);
    }

    #[test]
    fn antipodes_are_half_the_circumference() {
        let d = GeoPoint::new(0.0, 0.0).distance_km(GeoPoint::new(0.0, 180.0));
        assert!((d - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }
}
